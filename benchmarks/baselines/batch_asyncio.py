"""The least a batch runner does: a minimal asyncio + aiohttp loop (benchmarks/bench_batch_run.py's
baseline). N workers share one iterator over the input file; each posts its line's body and writes the
answer as a result line. No validation, no retries, no error handling, no resume.

    python batch_asyncio.py BASE_URL INPUT OUTPUT CONCURRENCY
"""

import asyncio
import json
import sys
import time

import aiohttp


async def main(url: str, src: str, dst: str, conc: int) -> int:
    headers = {"Content-Type": "application/json"}
    done = 0
    with open(src, "rb") as lines, open(dst, "w") as out:

        async def worker(session: aiohttp.ClientSession) -> None:
            nonlocal done
            for raw in lines:
                req = json.loads(raw)
                path = req["url"].removeprefix("/v1")
                async with session.post(url + path, data=json.dumps(req["body"]), headers=headers) as r:
                    status, request_id, body = r.status, r.headers.get("x-request-id"), await r.read()
                result = {
                    "id": f"batch_req_{done}",
                    "custom_id": req["custom_id"],
                    "response": {"status_code": status, "request_id": request_id, "body": json.loads(body)},
                    "error": None,
                }
                out.write(json.dumps(result) + "\n")
                done += 1

        async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as session:
            await asyncio.gather(*(worker(session) for _ in range(conc)))
    return done


if __name__ == "__main__":
    began = time.perf_counter()
    n = asyncio.run(main(sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])))
    print(json.dumps({"done": n, "elapsed_s": time.perf_counter() - began}))
