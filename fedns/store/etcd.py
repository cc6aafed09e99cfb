"""``etcd://host:port[,host:port...]``: the Store contract over a real etcd cluster.

Speaks etcd's v3 gRPC API through aetcd's generated stubs (aetcd's high-level client
lacks reads at a revision, multi-endpoint channels and compaction-aware watches).
Every endpoint goes into one gRPC channel with the ``pick_first`` policy, so a
stopped member is skipped on the next call.  gRPC errors become the Store's errors.

Not for: TLS or authentication (not yet supported; use a loopback or trusted network).
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import AsyncGenerator, Sequence
from typing import Any

import grpc
from aetcd import rpc

from fedns.store import base

_RESULT = {"==": rpc.Compare.EQUAL, "!=": rpc.Compare.NOT_EQUAL,
           "<": rpc.Compare.LESS, ">": rpc.Compare.GREATER}
_TARGET = {
    base.Target.VALUE: (rpc.Compare.VALUE, "value"),
    base.Target.CREATE: (rpc.Compare.CREATE, "create_revision"),
    base.Target.MOD: (rpc.Compare.MOD, "mod_revision"),
    base.Target.VERSION: (rpc.Compare.VERSION, "version"),
}
CALL_TIMEOUT = 10.0


def _target(endpoints: Sequence[tuple[str, int]]) -> str:
    """A gRPC target naming every endpoint: ``ipv4:a:p,b:p`` (hostnames resolved)."""
    v4: list[str] = []
    v6: list[str] = []
    for host, port in endpoints:
        try:
            addrs = [ipaddress.ip_address(host)]
        except ValueError:
            try:
                infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
            except OSError as err:
                raise base.Unavailable(f"etcd endpoint {host}:{port}: {err}") from err
            addrs = [ipaddress.ip_address(info[4][0]) for info in infos]
        for addr in addrs:
            (v4 if addr.version == 4 else v6).append(
                f"{addr}:{port}" if addr.version == 4 else f"[{addr}]:{port}"
            )
    if v4 and v6:
        return "ipv4:" + ",".join(v4)  # one scheme per target; prefer v4
    return ("ipv4:" + ",".join(v4)) if v4 else ("ipv6:" + ",".join(v6))


def _kv(pb: Any) -> base.KeyValue:
    return base.KeyValue(pb.key, pb.value, pb.create_revision, pb.mod_revision,
                         pb.version, pb.lease)


def _translate(err: grpc.aio.AioRpcError, where: str) -> base.StoreError:
    code, details = err.code(), err.details() or ""
    if code in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED):
        return base.Unavailable(f"etcd at {where} is unavailable: {details.splitlines()[0] if details else code.name}")
    if "compacted" in details:
        return base.Compacted(f"etcd: {details}")
    if "future revision" in details:
        return base.FutureRevision(f"etcd: {details}")
    if "lease not found" in details:
        return base.LeaseNotFound(f"etcd: {details}")
    return base.StoreError(f"etcd at {where}: {code.name}: {details}")


class EtcdStore(base.Store):
    """A Store backed by etcd.  Create, then ``await connect()`` (open_store does)."""

    def __init__(self, endpoints: Sequence[tuple[str, int]], url: str = "") -> None:
        self.endpoints = list(endpoints)
        self.url = url or "etcd://" + ",".join(f"{h}:{p}" for h, p in endpoints)
        self._where = ",".join(f"{h}:{p}" for h, p in endpoints)
        self._channel: grpc.aio.Channel | None = None
        self._kv_stub: Any = None
        self._lease_stub: Any = None
        self._watch_stub: Any = None

    async def connect(self, timeout: float = 5.0) -> None:
        """Open the channel and wait until an endpoint answers, or raise Unavailable."""
        self._channel = grpc.aio.insecure_channel(
            _target(self.endpoints),
            options=[
                ("grpc.lb_policy_name", "pick_first"),
                ("grpc.initial_reconnect_backoff_ms", 100),
                ("grpc.max_reconnect_backoff_ms", 2000),
                ("grpc.keepalive_time_ms", 10000),
                ("grpc.max_receive_message_length", 64 * 1024 * 1024),
            ],
        )
        self._kv_stub = rpc.KVStub(self._channel)
        self._lease_stub = rpc.LeaseStub(self._channel)
        self._watch_stub = rpc.WatchStub(self._channel)
        try:
            await self._call(self._kv_stub.Range, rpc.RangeRequest(key=b"\0", count_only=True),
                             timeout=timeout, wait=True)
        except base.Unavailable:
            await self.close()
            raise base.Unavailable(
                f"etcd at {self._where} is unreachable (no answer within {timeout:g}s)"
            ) from None

    async def _call(self, method: Any, request: Any, timeout: float = CALL_TIMEOUT,
                    wait: bool = True) -> Any:
        if self._channel is None:
            raise base.StoreError(f"etcd store {self.url} is closed")
        try:
            return await method(request, timeout=timeout, wait_for_ready=wait)
        except grpc.aio.AioRpcError as err:
            raise _translate(err, self._where) from err

    # -- reads ---------------------------------------------------------------

    async def get(self, key: bytes, revision: int = 0) -> base.KeyValue | None:
        resp = await self._call(self._kv_stub.Range, rpc.RangeRequest(key=key, revision=revision))
        return _kv(resp.kvs[0]) if resp.kvs else None

    async def range(self, prefix: bytes, revision: int = 0, limit: int = 0) -> base.Range:
        request = rpc.RangeRequest(
            key=prefix or b"\0", range_end=base.prefix_end(prefix), revision=revision,
            limit=limit,
        )
        resp = await self._call(self._kv_stub.Range, request)
        return base.Range([_kv(kv) for kv in resp.kvs], resp.header.revision, resp.count,
                          resp.more)

    async def revision(self) -> int:
        resp = await self._call(self._kv_stub.Range, rpc.RangeRequest(key=b"\0", count_only=True))
        return int(resp.header.revision)

    # -- writes --------------------------------------------------------------

    async def put(self, key: bytes, value: bytes, lease: int = 0) -> int:
        resp = await self._call(self._kv_stub.Put, rpc.PutRequest(key=key, value=value, lease=lease))
        return int(resp.header.revision)

    async def delete(self, key: bytes, prefix: bool = False) -> int:
        request = rpc.DeleteRangeRequest(key=key or b"\0")
        if prefix:
            request.range_end = base.prefix_end(key)
        resp = await self._call(self._kv_stub.DeleteRange, request)
        return int(resp.deleted)

    @staticmethod
    def _fill_compare(pb: Any, c: base.Compare) -> None:
        target, field = _TARGET[c.target]
        pb.result = _RESULT[c.op]
        pb.target = target
        pb.key = c.key
        setattr(pb, field, c.value)

    @staticmethod
    def _fill_op(pb: Any, op: base.Op) -> None:
        # fields are set in place on the message being built: constructing nested
        # messages and passing them in copies each one (3x slower on a merged txn)
        if isinstance(op, base.Put):
            put = pb.request_put
            put.key = op.key
            put.value = op.value
            if op.lease:
                put.lease = op.lease
            return
        req = pb.request_delete_range if isinstance(op, base.Delete) else pb.request_range
        req.key = op.key or b"\0"
        if op.prefix:
            req.range_end = base.prefix_end(op.key)

    async def txn(
        self,
        compare: Sequence[base.Compare],
        success: Sequence[base.Op] = (),
        failure: Sequence[base.Op] = (),
    ) -> base.TxnResult:
        request = rpc.TxnRequest()
        for c in compare:
            self._fill_compare(request.compare.add(), c)
        for op in success:
            self._fill_op(request.success.add(), op)
        for op in failure:
            self._fill_op(request.failure.add(), op)
        resp = await self._call(self._kv_stub.Txn, request)
        responses: list[list[base.KeyValue] | int | None] = []
        for r in resp.responses:
            kind = r.WhichOneof("response")
            if kind == "response_range":
                responses.append([_kv(kv) for kv in r.response_range.kvs])
            elif kind == "response_delete_range":
                responses.append(int(r.response_delete_range.deleted))
            else:
                responses.append(None)
        return base.TxnResult(bool(resp.succeeded), int(resp.header.revision), responses)

    async def compact(self, revision: int) -> None:
        await self._call(self._kv_stub.Compact, rpc.CompactionRequest(revision=revision,
                                                                      physical=True))

    # -- watch ---------------------------------------------------------------

    async def watch(
        self, prefix: bytes, start_revision: int = 0, *, prev: bool = True
    ) -> AsyncGenerator[list[base.Event], None]:
        if self._watch_stub is None:
            raise base.StoreError(f"etcd store {self.url} is closed")
        create = rpc.WatchCreateRequest(
            key=prefix or b"\0", range_end=base.prefix_end(prefix),
            start_revision=start_revision, prev_kv=prev,
        )
        call = self._watch_stub.Watch(wait_for_ready=True)
        try:
            await call.write(rpc.WatchRequest(create_request=create))
            async for resp in call:
                if resp.compact_revision:
                    raise base.Compacted(compact_revision=int(resp.compact_revision))
                if resp.canceled:
                    raise base.StoreError(f"etcd watch canceled: {resp.cancel_reason}")
                batch: list[base.Event] = []
                for ev in resp.events:
                    if batch and batch[-1].kv.mod_revision != ev.kv.mod_revision:
                        yield batch
                        batch = []
                    kind = base.EventType.PUT if ev.type == rpc.Event.PUT else base.EventType.DELETE
                    before = _kv(ev.prev_kv) if ev.HasField("prev_kv") else None
                    batch.append(base.Event(kind, _kv(ev.kv), before))
                if batch:
                    yield batch
            raise base.Unavailable(f"etcd at {self._where} ended the watch")
        except grpc.aio.AioRpcError as err:
            raise _translate(err, self._where) from err
        finally:
            call.cancel()

    # -- leases --------------------------------------------------------------

    async def grant(self, ttl: int) -> base.Lease:
        resp = await self._call(self._lease_stub.LeaseGrant, rpc.LeaseGrantRequest(TTL=ttl))
        if resp.error:
            raise base.StoreError(f"etcd lease grant: {resp.error}")
        return base.Lease(int(resp.ID), int(resp.TTL))

    async def keepalive(self, lease_id: int) -> int:
        call = self._lease_stub.LeaseKeepAlive(timeout=CALL_TIMEOUT)
        try:
            await call.write(rpc.LeaseKeepAliveRequest(ID=lease_id))
            resp = await call.read()
        except grpc.aio.AioRpcError as err:
            raise _translate(err, self._where) from err
        finally:
            call.cancel()
        if resp is grpc.aio.EOF or resp.TTL <= 0:
            raise base.LeaseNotFound(f"lease {lease_id:x} not found (expired or revoked)")
        return int(resp.TTL)

    async def time_to_live(self, lease_id: int) -> int:
        resp = await self._call(self._lease_stub.LeaseTimeToLive,
                                rpc.LeaseTimeToLiveRequest(ID=lease_id))
        if resp.TTL < 0:  # etcd answers -1, not an error, for a lease it does not have
            raise base.LeaseNotFound(f"lease {lease_id:x} not found (expired or revoked)")
        return int(resp.TTL)

    async def revoke(self, lease_id: int) -> None:
        await self._call(self._lease_stub.LeaseRevoke, rpc.LeaseRevokeRequest(ID=lease_id))

    async def close(self) -> None:
        channel, self._channel = self._channel, None
        if channel is not None:
            await channel.close()
