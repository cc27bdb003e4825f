"""Job steps over the record: plan, encode renditions, encode chunks, stitch, finalize.

Each step is a plain function of the :class:`~workers.runtime.context.WorkerContext`; the
encoding ones run through one lease-guarded wrapper (:mod:`workers.steps.leased`) and one
encode skeleton (:mod:`workers.steps.attempt`).
"""
