"""A writer under load with its own log of committed rows (for the RPO / quarantine test).

    rpo_writer.py LOG_DIR CONNECTIONS      (PGHOST, PGPORT, PGUSER, PGPASSWORD, PGDATABASE from the environment)

Each of CONNECTIONS threads has its own connection (autocommit, synchronous_commit on: a
COMMIT that returned is durable at the primary) and inserts one row per transaction into
rpo_writer with ids k, k+N, k+2N, ... It appends ``attempt <id>`` to LOG_DIR/writer-<k>.log
before the INSERT and ``ack <id>`` only after the COMMIT returned, each line written with one
write(2) on an O_APPEND descriptor, so the log survives a kill of the writer. A connection
stops at its first error (the primary was killed or fenced) or when LOG_DIR/stop exists.
"""

from __future__ import annotations

import os
import sys
import threading

import psycopg


def writer(log_dir, k, n):
    fd = os.open(os.path.join(log_dir, "writer-%d.log" % k), os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    try:
        conn = psycopg.connect(autocommit=True, connect_timeout=5)
        conn.execute("SET synchronous_commit = on")
        row_id = k
        while not os.path.exists(os.path.join(log_dir, "stop")):
            os.write(fd, b"attempt %d\n" % row_id)
            conn.execute("INSERT INTO rpo_writer (id, conn) VALUES (%s, %s)", (row_id, k))
            os.write(fd, b"ack %d\n" % row_id)
            row_id += n
    except Exception as exc:  # the end of the load: the primary went away
        os.write(fd, ("error %s\n" % str(exc).splitlines()[0] if str(exc) else "error\n").encode())
    finally:
        os.close(fd)


def main():
    log_dir, n = sys.argv[1], int(sys.argv[2])
    threads = [threading.Thread(target=writer, args=(log_dir, k, n)) for k in range(1, n + 1)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()


if __name__ == "__main__":
    main()
