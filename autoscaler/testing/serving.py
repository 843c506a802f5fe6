"""Serving an aiohttp application on 127.0.0.1 from the caller's event loop, for every fake.

The fakes run where the test runs (its event loop), so a test can change a fake between two
requests without locks. aiohttp parses the requests and frames the answers; this module only
starts and stops a site on a loopback port (0 picks a free one) and reports its URL.
"""

from __future__ import annotations

from aiohttp import web

__all__ = ["LoopbackSite"]


class LoopbackSite:
    """One aiohttp application listening on 127.0.0.1. `await start()` gives the base URL."""

    def __init__(self, app: web.Application, *, port: int = 0, shutdown_timeout: float = 1.0) -> None:
        self._app = app
        self._port = port
        self._shutdown_timeout = shutdown_timeout
        self._runner: web.AppRunner | None = None
        self.url: str | None = None

    @property
    def running(self) -> bool:
        return self._runner is not None

    async def start(self) -> str:
        if self._runner is not None and self.url is not None:
            return self.url
        runner = web.AppRunner(
            self._app,
            access_log=None,
            handle_signals=False,
            shutdown_timeout=self._shutdown_timeout,
        )
        await runner.setup()
        try:
            site = web.TCPSite(runner, host="127.0.0.1", port=self._port)
            await site.start()
        except BaseException:
            await runner.cleanup()
            raise
        self._runner = runner
        address = runner.addresses[0]
        self.url = f"http://127.0.0.1:{address[1]}"
        return self.url

    async def stop(self) -> None:
        """Stop listening and close every connection, idle keep-alive ones included."""
        runner, self._runner = self._runner, None
        if runner is not None:
            await runner.cleanup()
