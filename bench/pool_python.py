"""Python peers of spool's worker pool: the seed's stateful workload on py_stateful_map and mpire.

usage: bench/.venv-pool/bin/python bench/pool_python.py <heavy_tasks> <light_tasks>
Prints one JSON line per (library, workload).
"""
import json
import sys
import time

from mpire import WorkerPool
from py_stateful_map import ArgumentPassing, ExceptionBehavior, StateFullWorkerPool

N_WORKERS = 2
HEAVY_ITERS = 100_000


class SeedWorker:
    """The seed's SimpleArithmeticClassWorker (stateful: proc_id), with a light mode."""

    def __init__(self, proc_id, heavy=True, offset=1):
        self.proc_id = proc_id
        self.heavy = heavy
        self.offset = offset

    def __call__(self, x):
        if not self.heavy:
            return x + self.offset
        r = x
        for _ in range(HEAVY_ITERS):
            r = (r * r) % 337
        return r


def mpire_init(worker_state, heavy):
    worker_state["w"] = SeedWorker(proc_id=0, heavy=heavy)


def mpire_task(worker_state, x):
    return worker_state["w"](x)


def run_psm(n, heavy):
    t0 = time.perf_counter()
    total = 0
    with StateFullWorkerPool(
        num_workers=N_WORKERS,
        worker_class_or_func=SeedWorker,
        shared_kwarg_dict={"heavy": heavy},
        worker_kwarg_dict_arr=[{"proc_id": i} for i in range(N_WORKERS)],
        argument_passing=ArgumentPassing.AS_SINGLE_ARG,
        exception_behavior=ExceptionBehavior.DEFERRED,
        join_timeout=5,
    ) as pool:
        for res in pool.map([k * 10 for k in range(n)], is_unordered=False):
            total += res.ret_val
    return time.perf_counter() - t0, total


def run_mpire(n, heavy):
    t0 = time.perf_counter()
    total = 0
    with WorkerPool(n_jobs=N_WORKERS, use_worker_state=True) as pool:
        for r in pool.imap(
            mpire_task,
            [k * 10 for k in range(n)],
            worker_init=lambda ws: mpire_init(ws, heavy),
            chunk_size=100 if not heavy else 1,
        ):
            total += r
    return time.perf_counter() - t0, total


if __name__ == "__main__":
    heavy_n = int(sys.argv[1])
    light_n = int(sys.argv[2])
    for lib, fn in (("py_stateful_map", run_psm), ("mpire", run_mpire)):
        for workload, n, heavy in (("heavy", heavy_n, True), ("light", light_n, False)):
            secs, total = fn(n, heavy)
            print(json.dumps({"lib": lib, "workload": workload, "n": n, "ms": secs * 1000, "total": total}), flush=True)
