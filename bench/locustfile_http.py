"""Locust peer for bench/http1.sh: one FastHttpUser, one task GET /hello, no wait."""
from locust import FastHttpUser, constant, task


class HelloUser(FastHttpUser):
    wait_time = constant(0)

    @task
    def hello(self):
        self.client.get("/hello")
