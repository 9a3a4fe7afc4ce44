"""A scripted board on a real pseudo-terminal: the test plays the firmware, line by line."""

from __future__ import annotations

import asyncio
import os
import tty

from services.controller.devices import protocol as p


class FakeBoard:
    """The far end of a pty. `port` is what the host opens."""

    def __init__(self) -> None:
        master, slave = os.openpty()
        tty.setraw(slave)
        self.master = master
        self._keep = slave  # held open so reads of the master never fail with EIO
        self.port = os.ttyname(slave)
        os.set_blocking(master, False)
        self.received: asyncio.Queue[str] = asyncio.Queue()
        self.raw = bytearray()
        self._splitter = p.LineSplitter()
        asyncio.get_running_loop().add_reader(master, self._readable)

    def _readable(self) -> None:
        try:
            data = os.read(self.master, 4096)
        except OSError:
            return
        self.raw += data
        for line in self._splitter.feed(data):
            self.received.put_nowait(p.unframe(line))

    def write(self, data: bytes) -> None:
        os.write(self.master, data)

    def say(self, *bodies: str) -> None:
        self.write(b"".join(p.frame(b) for b in bodies))

    def hello(self, sensors: tuple[str, ...] = ("28FF3A1C62160312",), channels=(1, 2)) -> None:  # type: ignore[no-untyped-def]
        self.say(
            "H 1 fake 0.1",
            *(f"S {i} {a}" for i, a in enumerate(sensors)),
            *(f"A {c}" for c in channels),
            f"E {len(sensors)} {len(channels)} 0",
        )

    async def next_line(self, timeout: float = 5.0) -> str:
        return await asyncio.wait_for(self.received.get(), timeout)

    async def expect(self, prefix: str, timeout: float = 5.0) -> str:
        """The next command starting with `prefix`, skipping others (refreshes, pings)."""

        async def find() -> str:
            while True:
                line = await self.received.get()
                if line.startswith(prefix):
                    return line

        return await asyncio.wait_for(find(), timeout)

    def unplug(self) -> None:
        asyncio.get_running_loop().remove_reader(self.master)
        os.close(self.master)
        os.close(self._keep)
