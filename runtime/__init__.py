"""How users drive it: sessions, the repository and the task creator."""
