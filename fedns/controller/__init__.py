"""fedns.controller: the work queue, the reconcilers and leader election."""
