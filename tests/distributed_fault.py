"""Run by tests/test_distributed.py under ``mpiexec -n 2``: rank 1 fails while rank 0 waits for it in a
collective call, which without ``run_ranks`` would hang rank 0 forever."""

from gpt import distributed


def body(world: distributed.World) -> int:
    if world.rank == 1:
        raise OSError("the disk of rank 1 is full")
    world.sum(1.0)  # rank 1 never joins this sum
    print("rank 0 finished")
    return 0


if __name__ == "__main__":
    world = distributed.world()
    raise SystemExit(distributed.run_ranks(world, "test", lambda: body(world)))
