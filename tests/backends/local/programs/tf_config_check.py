"""A TFJob replica without TensorFlow: check TF_CONFIG, listen on our port, reach every peer."""
import json
import os
import socket
import sys
import threading
import time

cfg = json.loads(os.environ["TF_CONFIG"])
me = cfg["cluster"][cfg["task"]["type"]][cfg["task"]["index"]]
assert cfg["environment"] == "cloud", cfg
host, port = me.rsplit(":", 1)
server = socket.socket()
server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
server.bind((host, int(port)))
server.listen(16)
peers = [a for addrs in cfg["cluster"].values() for a in addrs]
served = []


def serve():
    while len(served) < len(peers) - 1:
        conn, _ = server.accept()
        served.append(conn.recv(64).decode())
        conn.close()


threading.Thread(target=serve, daemon=True).start()
reached = 0
for addr in peers:
    if addr == me:
        continue
    h, p = addr.rsplit(":", 1)
    deadline = time.time() + 60
    while True:
        try:
            with socket.create_connection((h, int(p)), timeout=2) as c:
                c.sendall(me.encode())
            reached += 1
            break
        except OSError:
            if time.time() > deadline:
                print(f"cannot reach {addr}", flush=True)
                sys.exit(4)
            time.sleep(0.05)
deadline = time.time() + 60
while len(served) < len(peers) - 1 and time.time() < deadline:
    time.sleep(0.05)
print(f"task={cfg['task']['type']}:{cfg['task']['index']} reached={reached} served={len(served)} peers={len(peers)}", flush=True)
sys.exit(0 if reached == len(peers) - 1 and len(served) == len(peers) - 1 else 5)
