"""A real single-node Slurm cluster for the tests: munged, MariaDB (127.0.0.1), slurmdbd,
slurmctld and slurmd from Debian's packages, every file under one temporary folder, every
daemon in the foreground and stopped by its PID. Needs root (slurmd starts jobs as their
user) and the packages ``slurm-wlm slurmdbd munge mariadb-server``.

Each wait has a deadline and checks that the daemons it depends on are still alive: Slurm's
clients retry for minutes when a daemon is gone.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

DAEMONS = ("munged", "mariadbd", "mariadb-install-db", "slurmdbd", "slurmctld", "slurmd")
CLUSTER = "medinjtest"


def missing() -> str | None:
    """Why no cluster can start here (None when one can)."""
    if os.geteuid() != 0:
        return "the test Slurm cluster needs root (slurmd starts jobs as their user)"
    gone = [d for d in DAEMONS if shutil.which(d) is None and not Path("/usr/sbin", d).exists()]
    if gone:
        return (f"{', '.join(gone)} not installed (apt-get install slurm-wlm slurmdbd munge "
                "mariadb-server)")  # fmt: skip
    return None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _binary(name: str) -> str:
    return shutil.which(name) or str(Path("/usr/sbin") / name)


class SlurmCluster:
    def __init__(self, folder: Path) -> None:
        self.dir = folder
        self.host = socket.gethostname().split(".")[0]
        self.processes: dict[str, subprocess.Popen] = {}
        self.env = {**os.environ, "SLURM_CONF": str(folder / "slurm.conf")}

    # --- configuration -------------------------------------------------------------------

    def _write_config(self) -> None:
        d = self.dir
        for sub in ("munge", "db", "ctld", "spool", "log"):
            (d / sub).mkdir(parents=True, exist_ok=True)
        for folder in (d, d / "munge"):  # munged refuses a socket folder that is not 0755
            os.chmod(folder, 0o755)
        self.munge_socket = d / "munge" / "munge.socket"
        self.db_port, self.dbd_port = _free_port(), _free_port()
        self.ctld_port, self.slurmd_port = _free_port(), _free_port()
        memory_mb = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") // (1 << 20)
        auth = f"AuthType=auth/munge\nAuthInfo=socket={self.munge_socket}\n"
        (d / "slurm.conf").write_text(
            f"ClusterName={CLUSTER}\nSlurmctldHost={self.host}(127.0.0.1)\n{auth}"
            f"SlurmctldPort={self.ctld_port}\nSlurmdPort={self.slurmd_port}\n"
            "SlurmUser=root\nSlurmdUser=root\nProctrackType=proctrack/linuxproc\n"
            "TaskPlugin=task/none\nSelectType=select/cons_tres\n"
            "SelectTypeParameters=CR_Core_Memory\nMpiDefault=none\nReturnToService=2\n"
            "KillWait=2\nMinJobAge=300\nSchedulerType=sched/backfill\n"
            "JobAcctGatherType=jobacct_gather/none\n"
            "AccountingStorageType=accounting_storage/slurmdbd\n"
            f"AccountingStorageHost=127.0.0.1\nAccountingStoragePort={self.dbd_port}\n"
            f"AccountingStoragePass={self.munge_socket}\n"  # slurmdbd's munge socket
            f"StateSaveLocation={d / 'ctld'}\nSlurmdSpoolDir={d / 'spool'}\n"
            f"SlurmctldPidFile={d / 'slurmctld.pid'}\nSlurmdPidFile={d / 'slurmd.pid'}\n"
            f"SlurmctldLogFile={d / 'log' / 'slurmctld.log'}\n"
            f"SlurmdLogFile={d / 'log' / 'slurmd.log'}\n"
            f"NodeName={self.host} NodeAddr=127.0.0.1 CPUs={os.cpu_count()} "
            f"RealMemory={memory_mb - 1024} State=UNKNOWN\n"
            "PartitionName=debug Nodes=ALL Default=YES MaxTime=INFINITE State=UP\n"
        )
        dbd = d / "slurmdbd.conf"
        dbd.write_text(
            f"{auth}DbdHost=localhost\nDbdAddr=127.0.0.1\nDbdPort={self.dbd_port}\n"
            "SlurmUser=root\nStorageType=accounting_storage/mysql\n"
            f"StorageHost=127.0.0.1\nStoragePort={self.db_port}\nStorageUser=root\n"
            f"StorageLoc=slurm_acct_db\nPidFile={d / 'slurmdbd.pid'}\n"
            f"LogFile={d / 'log' / 'slurmdbd.log'}\n"
        )
        os.chmod(dbd, 0o600)
        key = d / "munge" / "munge.key"
        key.write_bytes(os.urandom(1024))
        os.chmod(key, 0o400)

    # --- daemons -------------------------------------------------------------------------

    def _spawn(self, name: str, argv: list[str]) -> None:
        log = (self.dir / "log" / f"{name}.out").open("ab")
        self.processes[name] = subprocess.Popen(
            argv, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            env=self.env, start_new_session=True,
        )  # fmt: skip

    def _wait_for(self, what: str, ready, needs: tuple[str, ...], deadline_s: float = 60) -> None:
        end = time.monotonic() + deadline_s
        while time.monotonic() < end:
            for name in needs:
                if self.processes[name].poll() is not None:
                    raise RuntimeError(f"{name} died while waiting for {what}: {self.log(name)}")
            if ready():
                return
            time.sleep(0.3)
        raise RuntimeError(f"{what} not ready after {deadline_s:.0f} s")

    def log(self, name: str, chars: int = 2000) -> str:
        texts = []
        for path in sorted((self.dir / "log").glob(f"{name}*")):
            texts.append(path.read_text(errors="replace")[-chars:])
        return "\n".join(texts)

    def _client(self, *argv: str, timeout: float = 20) -> subprocess.CompletedProcess:
        return subprocess.run(list(argv), capture_output=True, text=True, env=self.env,
                              timeout=timeout)  # fmt: skip

    def _answers(self, *argv: str) -> bool:
        try:
            return self._client(*argv, timeout=10).returncode == 0
        except subprocess.TimeoutExpired:
            return False

    def start(self) -> SlurmCluster:
        self._write_config()
        d = self.dir
        self._spawn("munged", [_binary("munged"), "--foreground", "--force",
                               f"--socket={self.munge_socket}",
                               f"--key-file={d / 'munge' / 'munge.key'}",
                               f"--pid-file={d / 'munge' / 'munged.pid'}",
                               f"--seed-file={d / 'munge' / 'munged.seed'}",
                               f"--log-file={d / 'log' / 'munged.log'}"])  # fmt: skip
        self._wait_for("munged", self.munge_socket.exists, ("munged",), 20)
        self._start_database()
        # slurmdbd reads slurmdbd.conf from the folder of $SLURM_CONF
        self._spawn("slurmdbd", [_binary("slurmdbd"), "-D"])
        self._wait_for("slurmdbd", lambda: _listening(self.dbd_port), ("slurmdbd", "mariadbd"))
        done = self._client("sacctmgr", "-i", "add", "cluster", CLUSTER, timeout=30)
        if done.returncode not in (0, 1):
            raise RuntimeError(f"sacctmgr add cluster: {done.stderr}")
        self._spawn("slurmctld", [_binary("slurmctld"), "-D", "-i"])
        self._wait_for("slurmctld", lambda: self._answers("scontrol", "ping"), ("slurmctld",))
        self._spawn("slurmd", [_binary("slurmd"), "-D", "-N", self.host])
        self._wait_for("the node", self._node_idle, ("slurmctld", "slurmd"))
        return self

    def _start_database(self) -> None:
        d = self.dir
        subprocess.run(
            [_binary("mariadb-install-db"), "--user=root", f"--datadir={d / 'db'}",
             "--auth-root-authentication-method=normal", "--skip-test-db"],
            check=True, capture_output=True, timeout=120,
        )  # fmt: skip
        self._spawn("mariadbd", [_binary("mariadbd"), "--no-defaults", "--user=root",
                                 f"--datadir={d / 'db'}", f"--socket={d / 'db.sock'}",
                                 "--bind-address=127.0.0.1", f"--port={self.db_port}",
                                 f"--pid-file={d / 'mariadbd.pid'}", "--skip-grant-tables",
                                 "--innodb-buffer-pool-size=32M"])  # fmt: skip
        self._wait_for("MariaDB", lambda: _listening(self.db_port), ("mariadbd",))

    def _node_idle(self) -> bool:
        try:
            done = self._client("sinfo", "-h", "-o", "%t", timeout=10)
        except subprocess.TimeoutExpired:
            return False
        return done.stdout.strip() in ("idle", "mix", "alloc")

    def stop(self) -> None:
        """Every daemon, by its PID: SIGTERM, then SIGKILL after a few seconds."""
        for name in reversed(list(self.processes)):
            process = self.processes[name]
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
                try:
                    process.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait(timeout=10)


def _listening(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(0.5)
        return s.connect_ex(("127.0.0.1", port)) == 0
