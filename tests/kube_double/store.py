"""The object store: objects with real metadata, one resourceVersion counter, history, watch fan-out, GC.

Like etcd behind the API server, every write gets the next global resourceVersion and is
appended to a history that watches replay from; `compact()` forgets that history so an
older resourceVersion gets 410 Expired. Garbage collection follows ownerReferences the
way kube-controller-manager's collector does: Background deletes the owner at once and its
dependents right after; Foreground keeps the owner (deletionTimestamp plus the
`foregroundDeletion` finalizer) until its dependents are gone; Orphan strips the owner
reference from the dependents. All methods are thread-safe (one re-entrant lock): the
HTTP server, the simulator thread and test code call them concurrently.
"""

from __future__ import annotations

import json
import threading
import uuid
from collections import deque
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, Callable

Key = tuple[str, str]  # (group, plural)
# A watch callback receives (event type, new object, old object or None, resourceVersion).
WatchCallback = Callable[[str, dict, "dict | None", int], None]

HISTORY_LIMIT = 200_000


def clone(obj: Any) -> Any:
    """Deep copy of a JSON value; a JSON round trip is several times faster than copy.deepcopy."""
    return json.loads(json.dumps(obj))


def now_rfc3339() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


class StoreError(Exception):
    """A write the API server would refuse: carries the HTTP code and Status reason."""

    def __init__(self, code: int, reason: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.reason = reason
        self.message = message


@dataclass
class _Watcher:
    key: Key
    namespace: str | None
    callback: WatchCallback


class Store:
    """Objects by (group, plural) and (namespace, name); cluster-scoped objects use namespace ""."""

    def __init__(self) -> None:
        self.lock = threading.RLock()
        self.rv = 1
        self.compacted_rv = 0
        self._objects: dict[Key, dict[tuple[str, str], dict]] = {}
        self._history: deque = deque(maxlen=HISTORY_LIMIT)
        self._watchers: list[_Watcher] = []
        self._by_uid: dict[str, tuple[Key, str, str]] = {}
        self._dependents: dict[str, set[str]] = {}  # owner uid -> dependent uids
        # Called with a zero-argument function to run garbage collection later; the server
        # sets it to its loop's call_later so GC happens after the DELETE has answered.
        self.schedule: Callable[[Callable[[], None]], None] = lambda fn: fn()
        self._collecting = False

    # ---- reads -------------------------------------------------------------------------
    def get(self, key: Key, namespace: str, name: str) -> dict | None:
        with self.lock:
            obj = self._objects.get(key, {}).get((namespace, name))
            return clone(obj) if obj is not None else None

    def list(self, key: Key, namespace: str | None = None,
             match: Callable[[dict], bool] | None = None) -> tuple[list[dict], int]:
        """Matching objects sorted by (namespace, name), and the resourceVersion of the read."""
        items, rv, _ = self.page(key, namespace, match)
        return items, rv

    def page(self, key: Key, namespace: str | None = None, match: Callable[[dict], bool] | None = None,
             after: tuple[str, str] | None = None, limit: int = 0) -> tuple[list[dict], int, int]:
        """One page of matching objects after the (namespace, name) `after`, at most `limit` (0: all).

        Returns (objects, resourceVersion of the read, how many more match). Only the page is
        copied, so paging through 20,000 pods stays cheap.
        """
        with self.lock:
            bucket = self._objects.get(key, {})
            keys = sorted(k for k in bucket if (namespace is None or k[0] == namespace) and (after is None or k > after))
            picked, more = [], 0
            for k in keys:
                obj = bucket[k]
                if match is not None and not match(obj):
                    continue
                if limit and len(picked) >= limit:
                    more += 1
                    continue
                picked.append(obj)
            return clone(picked), self.rv, more

    def count(self, key: Key) -> int:
        with self.lock:
            return len(self._objects.get(key, {}))

    def by_uid(self, uid: str) -> dict | None:
        with self.lock:
            where = self._by_uid.get(uid)
            return self.get(*where) if where else None

    # ---- writes ------------------------------------------------------------------------
    def create(self, key: Key, namespace: str, obj: dict, dry_run: bool = False) -> dict:
        """Store a new object, filling uid, resourceVersion, generation, creationTimestamp.

        Raises:
            StoreError: 409 AlreadyExists.
        """
        with self.lock:
            meta = obj.setdefault("metadata", {})
            if not meta.get("name") and meta.get("generateName"):
                meta["name"] = meta["generateName"] + uuid.uuid4().hex[:5]
            name = meta["name"]
            if (namespace, name) in self._objects.get(key, {}):
                raise StoreError(409, "AlreadyExists", f"{{kind}} \"{name}\" already exists")
            if namespace:
                meta["namespace"] = namespace
            else:
                meta.pop("namespace", None)
            meta["uid"] = str(uuid.uuid4())
            meta["creationTimestamp"] = now_rfc3339()
            meta["generation"] = 1
            for drop in ("resourceVersion", "deletionTimestamp", "deletionGracePeriodSeconds", "selfLink"):
                meta.pop(drop, None)
            if dry_run:
                meta["resourceVersion"] = str(self.rv)
                return clone(obj)
            return self._put(key, namespace, obj, "ADDED", None)

    def update(self, key: Key, namespace: str, obj: dict, *, check_rv: bool = True,
               subresource: str | None = None, dry_run: bool = False) -> dict:
        """Replace an object (PUT semantics). With `subresource="status"` only status changes.

        Raises:
            StoreError: 404 NotFound, 409 Conflict on a stale resourceVersion.
        """
        with self.lock:
            name = obj["metadata"]["name"]
            old = self._objects.get(key, {}).get((namespace, name))
            if old is None:
                raise StoreError(404, "NotFound", f"{{kind}} \"{name}\" not found")
            sent_rv = obj["metadata"].get("resourceVersion")
            if check_rv and sent_rv and sent_rv != old["metadata"]["resourceVersion"]:
                raise StoreError(409, "Conflict",
                                 f"Operation cannot be fulfilled on {{kind}} \"{name}\": the object has been "
                                 "modified; please apply your changes to the latest version and try again")
            new = clone(obj)
            if subresource == "status":
                merged = clone(old)
                merged["status"] = new.get("status")
                new = merged
            elif "status" in old and subresource is None and key[0] != "":
                # Custom resources with a status subresource ignore status on the main resource.
                new["status"] = old.get("status")
            meta = new["metadata"]
            for keep in ("uid", "creationTimestamp", "namespace", "deletionTimestamp"):
                if keep in old["metadata"]:
                    meta[keep] = old["metadata"][keep]
            meta["generation"] = old["metadata"].get("generation", 1)
            if new.get("spec") != old.get("spec"):
                meta["generation"] += 1
            if dry_run:
                return new
            meta["resourceVersion"] = old["metadata"]["resourceVersion"]
            if new == old:
                return clone(old)  # a no-op write does not bump resourceVersion
            if meta.get("deletionTimestamp") and not meta.get("finalizers"):
                self._remove(key, namespace, name)
                return new
            result = self._put(key, namespace, new, "MODIFIED", old)
            self._later()
            return result

    def mutate(self, key: Key, namespace: str, name: str, fn: Callable[[dict], Any]) -> dict | None:
        """Apply `fn` to a copy of the object and store it if it changed (for the simulator)."""
        with self.lock:
            old = self._objects.get(key, {}).get((namespace, name))
            if old is None:
                return None
            new = clone(old)
            fn(new)
            if new == old:
                return clone(old)
            return self._put(key, namespace, new, "MODIFIED", old)

    def delete(self, key: Key, namespace: str, name: str, propagation: str = "Background",
               dry_run: bool = False) -> tuple[dict, bool]:
        """Delete an object; returns (object, gone_now). Foreground and finalizers keep it a while.

        Raises:
            StoreError: 404 NotFound.
        """
        with self.lock:
            old = self._objects.get(key, {}).get((namespace, name))
            if old is None:
                raise StoreError(404, "NotFound", f"{{kind}} \"{name}\" not found")
            if dry_run:
                return clone(old), True
            uid = old["metadata"]["uid"]
            if propagation == "Orphan":
                for dep_uid in list(self._dependents.get(uid, ())):
                    where = self._by_uid.get(dep_uid)
                    if where:
                        self.mutate(*where, lambda o: o["metadata"].__setitem__(
                            "ownerReferences", [r for r in o["metadata"].get("ownerReferences", [])
                                                if r.get("uid") != uid]))
            finalizers = list(old["metadata"].get("finalizers") or [])
            if propagation == "Foreground" and self._dependents.get(uid):
                finalizers = finalizers + ["foregroundDeletion"] if "foregroundDeletion" not in finalizers else finalizers
            if finalizers:
                if old["metadata"].get("deletionTimestamp") and finalizers == old["metadata"].get("finalizers"):
                    return clone(old), False
                new = clone(old)
                new["metadata"]["finalizers"] = finalizers
                new["metadata"].setdefault("deletionTimestamp", now_rfc3339())
                new["metadata"]["deletionGracePeriodSeconds"] = 0
                result = self._put(key, namespace, new, "MODIFIED", old)
                self._later()
                return result, False
            self._remove(key, namespace, name)
            self._later()
            return clone(old), True

    def _collect(self) -> None:
        """One garbage-collector pass: delete orphans, finish foreground deletions."""
        with self.lock:
            self._collecting = True
            try:
                changed = True
                while changed:
                    changed = False
                    for owner_uid, deps in list(self._dependents.items()):
                        owner = self._by_uid.get(owner_uid)
                        owner_obj = self._objects.get(owner[0], {}).get(owner[1:]) if owner else None
                        fins = (owner_obj or {}).get("metadata", {}).get("finalizers") or []
                        foreground = "foregroundDeletion" in fins
                        if owner_obj is not None and not foreground:
                            continue
                        for dep_uid in list(deps):
                            where = self._by_uid.get(dep_uid)
                            if where is None:
                                deps.discard(dep_uid)
                                continue
                            dep = self._objects[where[0]][where[1:]]
                            refs = dep["metadata"].get("ownerReferences") or []
                            others = [r for r in refs if r.get("uid") != owner_uid and r.get("uid") in self._by_uid]
                            if others or dep["metadata"].get("deletionTimestamp"):
                                continue  # another owner keeps it, or its deletion is under way
                            self.delete(*where, propagation="Foreground" if foreground else "Background")
                            changed = True
                        if not deps:
                            self._dependents.pop(owner_uid, None)
                        if owner_obj is not None and foreground and not self._dependents.get(owner_uid):
                            rest = [f for f in fins if f != "foregroundDeletion"]
                            if rest:
                                new = clone(owner_obj)
                                new["metadata"]["finalizers"] = rest
                                self._put(owner[0], owner[1], new, "MODIFIED", owner_obj)
                            else:
                                self._remove(*owner)
                            changed = True
            finally:
                self._collecting = False

    def _later(self) -> None:
        if not self._collecting:
            self.schedule(self._collect)

    def _put(self, key: Key, namespace: str, obj: dict, event: str, old: dict | None) -> dict:
        self.rv += 1
        obj["metadata"]["resourceVersion"] = str(self.rv)
        name = obj["metadata"]["name"]
        self._objects.setdefault(key, {})[(namespace, name)] = obj
        uid = obj["metadata"]["uid"]
        self._by_uid[uid] = (key, namespace, name)
        old_owners = {r.get("uid") for r in (old or {}).get("metadata", {}).get("ownerReferences") or []}
        new_owners = {r.get("uid") for r in obj["metadata"].get("ownerReferences") or []}
        for o in old_owners - new_owners:
            self._dependents.get(o, set()).discard(uid)
        for o in new_owners:
            self._dependents.setdefault(o, set()).add(uid)
        self._emit(key, namespace, event, obj, old)
        return clone(obj)

    def _remove(self, key: Key, namespace: str, name: str) -> None:
        old = self._objects.get(key, {}).pop((namespace, name), None)
        if old is None:
            return
        uid = old["metadata"]["uid"]
        self._by_uid.pop(uid, None)
        for r in old["metadata"].get("ownerReferences") or []:
            self._dependents.get(r.get("uid"), set()).discard(uid)
        self.rv += 1
        gone = clone(old)
        gone["metadata"]["resourceVersion"] = str(self.rv)
        self._emit(key, namespace, "DELETED", gone, old)

    # ---- watch -------------------------------------------------------------------------
    def _emit(self, key: Key, namespace: str, event: str, obj: dict, old: dict | None) -> None:
        frozen = clone(obj)
        self._history.append((self.rv, key, namespace, event, frozen, old))
        if len(self._history) == self._history.maxlen:
            self.compacted_rv = max(self.compacted_rv, self._history[0][0] - 1)
        for w in list(self._watchers):
            if w.key == key and (w.namespace is None or w.namespace == namespace):
                w.callback(event, frozen, old, self.rv)

    def watch(self, key: Key, namespace: str | None, since_rv: int | None,
              callback: WatchCallback) -> Callable[[], None]:
        """Replay history after `since_rv` (or current objects as ADDED when None), then go live.

        Returns the function that ends the watch.
        Raises:
            StoreError: 410 Expired when `since_rv` is older than the compacted history.
        """
        with self.lock:
            if since_rv is not None and since_rv < self.compacted_rv:
                raise StoreError(410, "Expired", f"too old resource version: {since_rv} ({self.compacted_rv + 1})")
            if since_rv is None:
                for (ns, _), obj in sorted(self._objects.get(key, {}).items()):
                    if namespace is None or ns == namespace:
                        callback("ADDED", clone(obj), None, int(obj["metadata"]["resourceVersion"]))
            else:
                for rv, k, ns, event, obj, old in self._history:
                    if rv > since_rv and k == key and (namespace is None or ns == namespace):
                        callback(event, obj, old, rv)
            watcher = _Watcher(key, namespace, callback)
            self._watchers.append(watcher)

        def stop() -> None:
            with self.lock:
                if watcher in self._watchers:
                    self._watchers.remove(watcher)

        return stop

    def compact(self) -> None:
        """Forget all history: every resourceVersion before now is too old to watch from."""
        with self.lock:
            self._history.clear()
            self.compacted_rv = self.rv
