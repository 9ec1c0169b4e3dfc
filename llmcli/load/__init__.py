"""Many requests at once: the asyncio load engine that `bench` and `batch` stand on.

`types` (requests, shapes, records; standard library only), `limits` (arrivals, AIMD, rate caps),
`engine` (scheduling, retries, cancellation), `wire` (one request over aiohttp), `sse` (event framing).
No rich, no files: callers render and write.
"""
