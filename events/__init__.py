"""What happened: the task-tree aggregate and its events (``domain``), and the event
store that keeps them (``store``)."""
