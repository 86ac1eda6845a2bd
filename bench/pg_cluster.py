"""A private PostgreSQL cluster for a benchmark: started in a temporary folder, stopped and removed at
the end, so server settings (``shared_buffers`` …) can be measured without touching the shared server.

    from bench.pg_cluster import private_cluster
    with private_cluster(shared_buffers="6GB") as env:   # env: DATABASE_URL, PGHOST, PGPORT
        subprocess.run([...], env={**os.environ, **env})

``initdb`` and ``pg_ctl`` come from ``PG_BIN`` (default ``/usr/lib/postgresql/15/bin``). PostgreSQL
refuses to run as root: as root the cluster is created and run as the ``postgres`` OS user
(``runuser -u postgres --``). The server listens on no TCP address, only on a unix socket in the
temporary folder, on its own port (a free one by default); every other setting is initdb's default
unless given. Run as a script it starts a cluster, prints its environment and waits for Ctrl-C:

    .venv/bin/python bench/pg_cluster.py --shared-buffers 6GB

The benches use ``run_in_clusters``: ``--cluster 128MB,6GB`` on their command line runs the bench
once per ``shared_buffers`` value, each in a fresh cluster, in a child process (Django reads
``DATABASE_URL`` once, at start-up).
"""

import contextlib
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time

PG_BIN = os.environ.get("PG_BIN", "/usr/lib/postgresql/15/bin")
DEFAULT_SHARED_BUFFERS = "128MB"  # PostgreSQL's own default (initdb writes it to postgresql.conf)


def _as_postgres(command: list[str]) -> list[str]:
    if os.geteuid() == 0:
        return ["runuser", "-u", "postgres", "--", *command]
    return command


def _free_port() -> int:
    with socket.socket() as probe:  # a port nobody listens on now (the server uses it for its socket name)
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@contextlib.contextmanager
def private_cluster(*, shared_buffers: str = DEFAULT_SHARED_BUFFERS, port: int | None = None,
                    settings: dict[str, str] | None = None, database: str = "bench"):
    """Start a throwaway cluster; yield the environment that points a client at its database
    (``DATABASE_URL``, ``PGHOST``, ``PGPORT``, ``PGUSER``); stop it and delete its folder on exit."""
    port = port or _free_port()
    folder = tempfile.mkdtemp(prefix="pgbench-")
    data = os.path.join(folder, "data")
    if os.geteuid() == 0:
        shutil.chown(folder, "postgres", "postgres")
    log = os.path.join(folder, "server.log")
    started = False
    try:
        subprocess.run(_as_postgres([f"{PG_BIN}/initdb", "-D", data, "-U", "postgres", "--auth=trust",
                                     "-E", "UTF8", "--locale=C.UTF-8"]),
                       check=True, stdout=subprocess.DEVNULL)
        options = {"port": str(port), "unix_socket_directories": folder, "listen_addresses": "",
                   "shared_buffers": shared_buffers, **(settings or {})}
        flags = " ".join(f"-c {key}={value}" for key, value in options.items())
        subprocess.run(_as_postgres([f"{PG_BIN}/pg_ctl", "-D", data, "-l", log, "-w", "-t", "120",
                                     "-o", flags, "start"]), check=True, stdout=subprocess.DEVNULL)
        started = True
        env = {"PGHOST": folder, "PGPORT": str(port), "PGUSER": "postgres",
               "DATABASE_URL": f"postgres://postgres@/{database}"}
        subprocess.run(["psql", "-q", "-d", "postgres", "-c", f"CREATE DATABASE {database}"],
                       check=True, env={**os.environ, **env})
        yield env
    finally:
        if started:
            subprocess.run(_as_postgres([f"{PG_BIN}/pg_ctl", "-D", data, "-m", "fast", "-w", "stop"]),
                           check=False, stdout=subprocess.DEVNULL)
        shutil.rmtree(folder, ignore_errors=True)


def cluster_argument(parser) -> None:
    """Add ``--cluster`` to a bench's argument parser (the bench handles it with ``run_in_clusters``)."""
    parser.add_argument("--cluster", metavar="SHARED_BUFFERS[,…]",
                        help="Run in a private PostgreSQL cluster started in a temporary folder, once per "
                             "shared_buffers value (e.g. 128MB,6GB), instead of DATABASE_URL.")


def run_in_clusters(values: str, argv: list[str]) -> int:
    """Run ``argv`` (a bench without its ``--cluster`` flag) once per ``shared_buffers`` value, each in
    a fresh private cluster. Returns the worst exit status. Other settings for every cluster from
    ``PG_CLUSTER_SETTINGS`` (``name=value;name=value``, e.g.
    ``shared_preload_libraries=pg_stat_statements;work_mem=64MB``)."""
    worst = 0
    settings = dict(item.split("=", 1) for item in os.environ.get("PG_CLUSTER_SETTINGS", "").split(";") if item)
    for value in [v.strip() for v in values.split(",") if v.strip()]:
        with private_cluster(shared_buffers=value, settings=settings) as env:
            print(f"\n# private cluster: shared_buffers={value} (load average "
                  f"{os.getloadavg()[0]:.1f})", flush=True)
            worst = max(worst, subprocess.run([sys.executable, *argv], env={**os.environ, **env}).returncode)
    return worst


def rerun_in_clusters_if_asked(script: str) -> None:
    """For a bench whose settings read ``DATABASE_URL`` on import: with ``--cluster X`` on the command line, run
    ``script`` again in private clusters (``run_in_clusters``) before Django starts, and exit with the worst
    status; without it, return."""
    for i, arg in enumerate(sys.argv[1:], 1):
        if arg == "--cluster" or arg.startswith("--cluster="):
            value = arg.split("=", 1)[1] if "=" in arg else sys.argv[i + 1]
            sys.exit(run_in_clusters(value, [script, *without_cluster_flag(sys.argv[1:])]))


def without_cluster_flag(argv: list[str]) -> list[str]:
    """``argv`` minus ``--cluster X`` / ``--cluster=X``."""
    out, skip = [], False
    for arg in argv:
        if skip:
            skip = False
        elif arg == "--cluster":
            skip = True
        elif not arg.startswith("--cluster="):
            out.append(arg)
    return out


def main():
    import argparse

    parser = argparse.ArgumentParser(description="Start a private PostgreSQL cluster until Ctrl-C.")
    parser.add_argument("--shared-buffers", default=DEFAULT_SHARED_BUFFERS)
    parser.add_argument("--port", type=int)
    args = parser.parse_args()
    with private_cluster(shared_buffers=args.shared_buffers, port=args.port) as env:
        for key, value in env.items():
            print(f"export {key}={value}")
        with contextlib.suppress(KeyboardInterrupt):
            while True:
                time.sleep(3600)


if __name__ == "__main__":
    main()
