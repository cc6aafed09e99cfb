"""The benchmark's fedns server process: load records into a memory Store, serve them.

``python -m bench.dns.fedns_server RECORDS.json PORT ZONE`` runs what ``fedns dns``
runs (``daemon.running``) on 127.0.0.1:PORT and prints ``ready`` once it answers.
It exits on SIGTERM.  Only the benchmark starts it.
"""

from __future__ import annotations

import asyncio
import json
import pathlib
import sys

if __package__ in (None, ""):  # run as a file: make the repository importable
    sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[2]))

from fedns import store as store_mod
from fedns.dnsserver import daemon


async def main(records_path: str, port: int, zone: str) -> None:
    store = await store_mod.open_store("memory://")
    records = json.loads(pathlib.Path(records_path).read_text())
    for key, value in records.items():
        await store.put(key.encode(), value.encode())
    async with daemon.running(store, daemon.settings_for(zone), f"127.0.0.1:{port}"):
        print("ready", flush=True)
        await asyncio.Event().wait()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], int(sys.argv[2]), sys.argv[3]))
