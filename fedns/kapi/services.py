"""Service rules: defaults, validation, and cluster IP / node port allocation.

Allocations are Store keys (``<prefix>/ranges/serviceips/<ip>``,
``<prefix>/ranges/servicenodeports/<port>``, value ``namespace/name``) that the
Service's write claims in its own transaction, checked absent, and that its delete
releases in the same way; two Services can therefore never hold the same address,
across processes too.  Dynamic cluster IPs come from above the CIDR's static band,
as kube-apiserver does, so the first address (``10.96.0.1``) stays for the
``kubernetes`` Service.  Node ports are allocated only when
``Settings.allocate_node_ports`` is on (explicit ones are always claimed).  IPv4 and
IPv6 single-stack; dual-stack is not done.
"""

from __future__ import annotations

import ipaddress
import random
from typing import TYPE_CHECKING, Any

from fedns.kapi import objects, registry, status

if TYPE_CHECKING:
    from fedns.kapi.storage import Storage

Obj = dict[str, Any]

TYPES = ("ClusterIP", "NodePort", "LoadBalancer", "ExternalName")
PROTOCOLS = ("TCP", "UDP", "SCTP")
_PROBES = 64  # random tries before a full scan of the range


def default(obj: Obj) -> None:
    spec = obj.setdefault("spec", {})
    kind = spec.setdefault("type", "ClusterIP")
    spec.setdefault("sessionAffinity", "None")
    for port in spec.get("ports") or []:
        if isinstance(port, dict):
            port.setdefault("protocol", "TCP")
            if "port" in port:
                port.setdefault("targetPort", port["port"])
    if kind != "ExternalName":
        spec.setdefault("internalTrafficPolicy", "Cluster")
    if kind in ("NodePort", "LoadBalancer"):
        spec.setdefault("externalTrafficPolicy", "Cluster")
    if kind == "LoadBalancer":
        spec.setdefault("allocateLoadBalancerNodePorts", True)
    obj.setdefault("status", {}).setdefault("loadBalancer", {})


def validate(new: Obj, old: Obj | None) -> list[tuple[str, str]]:
    causes: list[tuple[str, str]] = []
    name = str(objects.meta(new).get("name", ""))
    if old is None:
        causes += [("metadata.name", p) for p in objects.name_problems(name, "dns1035")]
    spec = new.get("spec") or {}
    kind = spec.get("type")
    if kind not in TYPES:
        causes.append(("spec.type", f'Unsupported value: "{kind}": supported values: '
                                    + ", ".join(f'"{t}"' for t in TYPES)))
    ports = spec.get("ports") or []
    if not ports and kind != "ExternalName" and spec.get("clusterIP") != "None":
        causes.append(("spec.ports", "Required value"))
    seen: set[tuple[Any, Any]] = set()
    for i, port in enumerate(ports):
        where = f"spec.ports[{i}]"
        if not isinstance(port, dict):
            causes.append((where, "Invalid value: must be an object"))
            continue
        number = port.get("port")
        if not isinstance(number, int) or not 0 < number < 65536:
            causes.append((f"{where}.port", (f"Invalid value: {number}: must be between 1 and "
                                            "65535, inclusive")))
        if port.get("protocol") not in PROTOCOLS:
            causes.append((f"{where}.protocol", (f'Unsupported value: "{port.get("protocol")}": '
                                                'supported values: "SCTP", "TCP", "UDP"')))
        if len(ports) > 1 and not port.get("name"):
            causes.append((f"{where}.name", "Required value"))
        if (number, port.get("protocol")) in seen:
            causes.append((where, (f'Duplicate value: {{"port":{number},"protocol":'
                                  f'"{port.get("protocol")}"}}')))
        seen.add((number, port.get("protocol")))
    if kind == "ExternalName" and not spec.get("externalName"):
        causes.append(("spec.externalName", "Required value"))
    if old is not None:
        before = (old.get("spec") or {}).get("clusterIP")
        after = spec.get("clusterIP")
        if before and after and before != after and kind != "ExternalName" \
                and (old.get("spec") or {}).get("type") != "ExternalName":
            causes.append(("spec.clusterIPs[0]", (f'Invalid value: "{after}": may not change '
                                                 "once set")))
    return causes


# -- allocation ----------------------------------------------------------------

def _ip_key(ctx: Storage, ip: str) -> bytes:
    return f"{ctx.prefix}/ranges/serviceips/{ip}".encode()


def _port_key(ctx: Storage, port: int) -> bytes:
    return f"{ctx.prefix}/ranges/servicenodeports/{port}".encode()


def _owner(obj: Obj) -> bytes:
    meta = objects.meta(obj)
    return f"{meta.get('namespace', '')}/{meta.get('name', '')}".encode()


def _cluster_ips(obj: Obj | None) -> list[str]:
    if obj is None:
        return []
    spec = obj.get("spec") or {}
    ips = list(spec.get("clusterIPs") or ([spec["clusterIP"]] if spec.get("clusterIP") else []))
    return [ip for ip in ips if ip and ip != "None"]


def _node_ports(obj: Obj | None) -> dict[tuple[Any, Any], int]:
    if obj is None:
        return {}
    found = {}
    for port in (obj.get("spec") or {}).get("ports") or []:
        if isinstance(port, dict) and port.get("nodePort"):
            found[(port.get("port"), port.get("protocol", "TCP"))] = int(port["nodePort"])
    return found


async def _free(ctx: Storage, candidates: range, key_of: Any, what: str) -> int:
    """A free offset among ``candidates``: random probes, then a scan; raises 422-ish
    ApiError when none is left."""
    if len(candidates) == 0:
        raise status.ApiError(500, "InternalError", "Internal error occurred: range is empty")
    for _ in range(min(_PROBES, len(candidates))):
        offset = random.choice(candidates)
        if await ctx.store.get(key_of(offset)) is None:
            return offset
    start = random.randrange(len(candidates))
    for i in range(len(candidates)):
        offset = candidates[(start + i) % len(candidates)]
        if await ctx.store.get(key_of(offset)) is None:
            return offset
    raise status.ApiError(500, "InternalError", f"Internal error occurred: failed to allocate "
                                                f"a {what}: range is full")


async def _allocate_ip(ctx: Storage, obj: Obj, wanted: str, held: list[str],
                       claims: registry.Claims) -> str:
    network = ctx.settings.network()
    if wanted:
        try:
            address = ipaddress.ip_address(wanted)
        except ValueError:
            raise status.invalid("Service", "", objects.meta(obj).get("name", ""),
                                 [("spec.clusterIPs[0]", (f'Invalid value: "{wanted}": must be '
                                                         "a valid IP address"))]) from None
        if wanted in held:
            return wanted
        if address not in network or address in (network.network_address,
                                                 network.broadcast_address):
            raise status.invalid("Service", "", objects.meta(obj).get("name", ""),
                                 [("spec.clusterIPs", (f'Invalid value: ["{wanted}"]: failed to '
                                   f"allocate IP {wanted}: the provided IP ({wanted}) is not in "
                                   f"the valid range. The range of valid IPs is {network}"))])
        kv = await ctx.store.get(_ip_key(ctx, wanted))
        if kv is not None and kv.value != _owner(obj):
            raise status.invalid("Service", "", objects.meta(obj).get("name", ""),
                                 [("spec.clusterIPs", (f'Invalid value: ["{wanted}"]: failed to '
                                   f"allocate IP {wanted}: provided IP is already allocated"))])
        claims.claim[_ip_key(ctx, wanted)] = _owner(obj)
        return wanted
    size = network.num_addresses
    static_band = min(max(16, size // 16), 256)
    first = static_band if size > 2 * static_band else 1
    last = size - 1 if network.version == 4 else size  # skip broadcast
    offset = await _free(ctx, range(first, last),
                         lambda o: _ip_key(ctx, str(network.network_address + o)), "serviceIP")
    ip = str(network.network_address + offset)
    claims.claim[_ip_key(ctx, ip)] = _owner(obj)
    return ip


async def prepare(ctx: Storage, old: Obj | None, new: Obj | None) -> registry.Claims:
    """Fill clusterIP(s) and node ports of ``new`` (keeping ``old``'s), claim what is
    new and release what ``new`` no longer holds (everything when ``new`` is None)."""
    claims = registry.Claims()
    old_ips, old_ports = _cluster_ips(old), _node_ports(old)
    kept_ips: list[str] = []
    kept_ports: set[int] = set()
    if new is not None:
        spec = new.setdefault("spec", {})
        kind = spec.get("type", "ClusterIP")
        if kind == "ExternalName":
            spec.pop("clusterIP", None)
            spec.pop("clusterIPs", None)
        else:
            wanted = spec.get("clusterIP") or next(iter(spec.get("clusterIPs") or []), "")
            if not wanted and old_ips:
                wanted = old_ips[0]
            if wanted == "None":
                spec["clusterIP"], spec["clusterIPs"] = "None", ["None"]
            else:
                ip = await _allocate_ip(ctx, new, wanted, old_ips, claims)
                spec["clusterIP"], spec["clusterIPs"] = ip, [ip]
                kept_ips.append(ip)
            family = "IPv6" if ctx.settings.network().version == 6 else "IPv4"
            spec.setdefault("ipFamilies", [family])
            spec.setdefault("ipFamilyPolicy", "SingleStack")
        wants_ports = kind == "NodePort" or (
            kind == "LoadBalancer" and spec.get("allocateLoadBalancerNodePorts", True))
        for port in spec.get("ports") or []:
            if not isinstance(port, dict):
                continue
            if not wants_ports:
                port.pop("nodePort", None)
                continue
            number = port.get("nodePort") or old_ports.get((port.get("port"),
                                                             port.get("protocol", "TCP")))
            if number and number in old_ports.values():
                kept_ports.add(int(number))
                port["nodePort"] = int(number)
                continue
            if number:
                low, high = ctx.settings.node_port_range
                if not low <= int(number) <= high:
                    raise status.invalid("Service", "", objects.meta(new).get("name", ""), [
                        ("spec.ports[0].nodePort", (f"Invalid value: {number}: provided port is "
                                                   f"not in the valid range. The range of "
                                                   f"valid ports is {low}-{high}"))])
                kv = await ctx.store.get(_port_key(ctx, int(number)))
                if kv is not None and kv.value != _owner(new):
                    raise status.invalid("Service", "", objects.meta(new).get("name", ""), [
                        ("spec.ports[0].nodePort", (f"Invalid value: {number}: provided port is "
                                                   "already allocated"))])
            elif ctx.settings.allocate_node_ports:
                low, high = ctx.settings.node_port_range
                number = await _free(ctx, range(low, high + 1), lambda p: _port_key(ctx, p),
                                     "nodePort")
            else:
                continue
            if _port_key(ctx, int(number)) not in claims.claim:
                claims.claim[_port_key(ctx, int(number))] = _owner(new)
            port["nodePort"] = int(number)
            kept_ports.add(int(number))
    claims.release += [_ip_key(ctx, ip) for ip in old_ips if ip not in kept_ips]
    claims.release += [_port_key(ctx, p) for p in set(old_ports.values()) - kept_ports]
    return claims
