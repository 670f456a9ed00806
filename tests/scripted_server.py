"""A real HTTP server on 127.0.0.1 that speaks the OpenAI chat-completions protocol with scripted statuses, for
what a real model server will not do on demand: refuse a key, rate-limit, fail and recover.

    python scripted_server.py PORT MODE      MODE: flaky (429, then 500, then answers) | locked (401 everywhere)
                                             | judge (answers "Score: N", N = prompt length mod 6)
Each request it receives is appended to ``requests.jsonl`` in the working directory.
"""

from __future__ import annotations

import json
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

PORT, MODE = int(sys.argv[1]), sys.argv[2]
SCRIPT = {"flaky": [429, 500], "locked": [], "judge": []}[MODE]
seen = {"chat": 0}


class Handler(BaseHTTPRequestHandler):
    def log_message(self, *args) -> None:
        pass

    def reply(self, status: int, body: dict) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self) -> None:  # /v1/models
        if MODE == "locked":
            return self.reply(401, {"error": {"message": "invalid api key", "type": "auth"}})
        self.reply(200, {"object": "list", "data": [{"id": "scripted", "object": "model"}]})

    def do_POST(self) -> None:  # /v1/chat/completions
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        with open("requests.jsonl", "a") as f:
            f.write(json.dumps({"path": self.path, "auth": self.headers.get("Authorization", ""), "body": body}) + "\n")
        if MODE == "locked":
            return self.reply(401, {"error": {"message": "invalid api key", "type": "auth"}})
        n = seen["chat"]
        seen["chat"] += 1
        if n < len(SCRIPT):
            return self.reply(SCRIPT[n], {"error": {"message": f"scripted {SCRIPT[n]}", "type": "server"}})
        text = body["messages"][-1]["content"]
        answer = "audio" if isinstance(text, list) else text.rsplit(":", 1)[-1].strip() or "empty"
        if MODE == "judge":
            answer = f"Score: {len(text) % 6}"
        self.reply(
            200,
            {
                "id": "x",
                "object": "chat.completion",
                "created": 0,
                "model": body["model"],
                "choices": [
                    {"index": 0, "finish_reason": "stop", "message": {"role": "assistant", "content": f" {answer} "}}
                ],
                "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2},
            },
        )


ThreadingHTTPServer(("127.0.0.1", PORT), Handler).serve_forever()
