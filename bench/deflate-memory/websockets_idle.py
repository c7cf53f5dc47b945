"""See run.sh: websockets client, N connections that each echo one text."""
import asyncio, sys
from websockets.asyncio.client import connect
def rss():
    for l in open("/proc/self/status"):
        if l.startswith("VmRSS:"): return int(l.split()[1])
async def main(url, n, comp):
    kw = {} if comp else {"compression": None}
    w = await connect(url, **kw); await w.send("x"); await w.recv()
    r0 = rss()
    conns = await asyncio.gather(*(connect(url, **kw) for _ in range(n)))
    async def one(c):
        await c.send('{"type":"hello","id":12345678}'); await c.recv()
    await asyncio.gather(*(one(c) for c in conns))
    r1 = rss()
    print(f"websockets ext={conns[0].response.headers.get('Sec-WebSocket-Extensions')} after echo: {(r1-r0)/n:.1f} KiB/conn")
    await asyncio.sleep(7)
    print(f"after 7 s idle: {(rss()-r0)/n:.1f} KiB/conn")
asyncio.run(main(sys.argv[1], int(sys.argv[2]), int(sys.argv[3])))
