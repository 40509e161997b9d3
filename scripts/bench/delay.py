"""A delay line in front of a benchmark mirror, for kernels without sch_netem:
listens on ADDR:PORT and forwards each connection to ADDR:UPSTREAM. What the
mirror sends is handed on DELAY_MS after it was read, as netem on the mirror's
side of the link would (the bench's tbf still shapes it after that); what the
client sends goes straight through. A connection's first bytes reach the
mirror DELAY_MS late, for the handshake's round trip. So each request waits
one round trip for its answer and each new connection one more, as over a
link of that delay; TCP's own ramp-up over such a link is not modelled (the
client's TCP sees a short path). Bounded: exits after LIFETIME seconds.

    python3 delay.py ADDR PORT UPSTREAM DELAY_MS [LIFETIME=900]
"""
import asyncio
import socket
import sys

addr, port, upstream = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
delay = float(sys.argv[4]) / 1000
lifetime = float(sys.argv[5]) if len(sys.argv) > 5 else 900

CHUNK = 1 << 16
HELD = 64  # chunks in flight per connection before reading stops (4 MiB)


def nodelay(writer):
    sock = writer.get_extra_info("socket")
    if sock is not None:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


async def straight(src, dst):
    try:
        while data := await src.read(CHUNK):
            dst.write(data)
            await dst.drain()
        if dst.can_write_eof():
            dst.write_eof()
    except (ConnectionError, OSError):
        pass


async def delayed(src, dst):
    """Every chunk read from src goes to dst `delay` seconds after it was read."""
    loop = asyncio.get_running_loop()
    line = asyncio.Queue(HELD)

    async def read():
        try:
            while data := await src.read(CHUNK):
                await line.put((loop.time() + delay, data))
        except (ConnectionError, OSError):
            pass
        await line.put((loop.time() + delay, b""))

    reader = asyncio.create_task(read())
    try:
        while True:
            due, data = await line.get()
            wait = due - loop.time()
            if wait > 0:
                await asyncio.sleep(wait)
            if not data:
                break
            dst.write(data)
            await dst.drain()
    except (ConnectionError, OSError):
        pass
    finally:
        reader.cancel()
        dst.close()


async def serve(client_r, client_w):
    nodelay(client_w)
    try:
        await asyncio.sleep(delay)
        mirror_r, mirror_w = await asyncio.open_connection(addr, upstream)
    except OSError:
        client_w.close()
        return
    nodelay(mirror_w)
    await asyncio.gather(straight(client_r, mirror_w), delayed(mirror_r, client_w))
    mirror_w.close()


async def main():
    server = await asyncio.start_server(serve, addr, port, backlog=1024, reuse_address=True)
    async with server:
        await asyncio.sleep(lifetime)
        # connections still open at the end go with the process, quietly
        asyncio.get_running_loop().set_exception_handler(lambda *_: None)


asyncio.run(main())
