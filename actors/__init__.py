"""Who does the work: the executor contract and registry, and the running of trees.

One pykka actor per running tree, ``TreeSupervisor``, on its own thread: it owns the
run's scheduling state (``Scheduler``, pure), its pending changes (``ChangeRecorder``,
which commits them through the database thread) and the running jobs (``LoopBridge``).
Executors, hooks and observers run as coroutines on the application's asyncio loop; there
is no actor per task, because a pykka actor is a thread and a job needs none.
"""
