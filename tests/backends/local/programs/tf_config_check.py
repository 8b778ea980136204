"""A TFJob replica without TensorFlow: check TF_CONFIG, listen on our port, reach every peer.

The chief decides the job's success, so it leaves last: every other replica reports "done" to
it after printing its own result, and the chief waits for all of them.
"""
import json
import os
import socket
import sys
import threading
import time

cfg = json.loads(os.environ["TF_CONFIG"])
assert cfg["environment"] == "cloud", cfg
task = cfg["task"]
me = cfg["cluster"][task["type"]][task["index"]]
chief = cfg["cluster"]["chief"][0]
host, port = me.rsplit(":", 1)
server = socket.socket()
server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
server.bind((host, int(port)))
server.listen(16)
peers = [a for addrs in cfg["cluster"].values() for a in addrs]
others = len(peers) - 1
served, done = [], []


def serve():
    while len(served) < others or (me == chief and len(done) < others):
        conn, _ = server.accept()
        msg = conn.recv(64).decode()
        (done if msg.startswith("done:") else served).append(msg)
        conn.close()


def send(addr, msg):
    h, p = addr.rsplit(":", 1)
    deadline = time.time() + 60
    while True:
        try:
            with socket.create_connection((h, int(p)), timeout=2) as c:
                c.sendall(msg.encode())
            return
        except OSError:
            if time.time() > deadline:
                print(f"cannot reach {addr}", flush=True)
                sys.exit(4)
            time.sleep(0.05)


listener = threading.Thread(target=serve, daemon=True)
listener.start()
reached = 0
for addr in peers:
    if addr != me:
        send(addr, me)
        reached += 1
deadline = time.time() + 60
while len(served) < others and time.time() < deadline:
    time.sleep(0.02)
print(f"task={task['type']}:{task['index']} reached={reached} served={len(served)} peers={len(peers)}", flush=True)
ok = reached == others and len(served) == others
if me != chief:
    send(chief, f"done:{me}")
else:
    listener.join(60)
sys.exit(0 if ok else 5)
