"""A stdout callback for the integration tests: one line per task result on stdout, and every task
result as JSON in the file named by STRATOS_RECORD_FILE when the playbook ends.

ansible-core ships no JSON stdout callback (ansible.posix.json is in another collection), and the
tests must not depend on what else is installed, so they bring this one.
"""

from __future__ import annotations

import json
import os

from ansible.plugins.callback import CallbackBase

DOCUMENTATION = """
name: stratos_record
type: stdout
short_description: record task results as JSON for the Stratos integration tests
description:
  - Writes every task result to the file named by the environment variable STRATOS_RECORD_FILE.
"""


def _payload(result):
    # ansible-core 2.19 offers .result; earlier versions only ._result.
    data = getattr(result, "result", None)
    return dict(data if data is not None else result._result)


class CallbackModule(CallbackBase):
    CALLBACK_VERSION = 2.0
    CALLBACK_TYPE = "stdout"
    CALLBACK_NAME = "stratos_record"

    def __init__(self):
        super().__init__()
        self.tasks = []

    def _record(self, result, status):
        host = getattr(result, "host", None) or result._host
        task = getattr(result, "task", None) or result._task
        self.tasks.append(
            {"task": task.get_name(), "host": host.get_name(), "status": status, "result": _payload(result)}
        )
        self._display.display(f"{status}: [{host.get_name()}] {task.get_name()}")

    def v2_runner_on_ok(self, result):
        self._record(result, "ok")

    def v2_runner_on_failed(self, result, ignore_errors=False):
        self._record(result, "failed")

    def v2_runner_on_skipped(self, result):
        self._record(result, "skipped")

    def v2_runner_on_unreachable(self, result):
        self._record(result, "unreachable")

    def v2_playbook_on_stats(self, stats):
        path = os.environ.get("STRATOS_RECORD_FILE")
        if path:
            with open(path, "w") as handle:
                json.dump({"tasks": self.tasks}, handle, default=str)
