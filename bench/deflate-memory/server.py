"""See run.sh: the echo server (compression on, its defaults)."""
import asyncio, sys
from websockets.asyncio.server import serve
async def echo(ws):
    async for m in ws:
        await ws.send(m)
async def main():
    async with serve(echo, "127.0.0.1", 0, max_queue=4) as s:
        print("PORT", s.sockets[0].getsockname()[1], flush=True)
        await asyncio.Future()
asyncio.run(main())
