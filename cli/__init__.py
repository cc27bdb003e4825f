"""The ``ffcluster`` command: runs, supervises and drives a cluster."""
