"""What every screen shares: the status bar on top, the footer with bindings below."""

from __future__ import annotations

from typing import TYPE_CHECKING, cast

from textual import events
from textual.app import ComposeResult
from textual.screen import Screen

from tradebot_tui.ui.widgets.key_bar import KeyBar
from tradebot_tui.ui.widgets.status_bar import StatusBar

if TYPE_CHECKING:
    from tradebot_tui.engine import EngineSnapshot
    from tradebot_tui.ui.app import TradebotApp


class TradebotScreen(Screen[None]):
    """A screen fed with engine snapshots while it is the active one."""

    def __init__(self) -> None:
        super().__init__()
        # Textual marks a new screen as styled by no stylesheet yet, and opening it then
        # re-parses every stylesheet of the app (`App.refresh_css`). Ours are parsed
        # before it is installed (with the app's, together after the first frame, or by
        # Textual as the screen is installed: its CSS_PATH) and a new screen's widgets
        # are styled as they mount: it is as current as the app's CSS now. A theme
        # chosen later still refreshes it when it is next shown.
        self._css_update_count = self.app._css_update_count

    @property
    def tb_app(self) -> TradebotApp:
        return cast("TradebotApp", self.app)

    def compose(self) -> ComposeResult:
        yield StatusBar()
        yield from self.compose_body()
        yield KeyBar()

    def compose_body(self) -> ComposeResult:
        """The screen's own widgets, between the status bar and the footer."""
        yield from ()

    _shown_snapshot: EngineSnapshot | None = None
    # Set by the app while it switches to this screen as a mode (see `_on_screen_resume`).
    restyle_on_resume = True

    def _on_screen_resume(self, event: events.ScreenResume) -> None:
        # Textual restyles every widget of a resumed screen, for pseudo-classes that may
        # have changed while it was hidden. A mode switch changes none (a new theme or
        # CSS is applied by the switch itself), and the restyle is most of the switch's
        # time: 80 ms for the config form here. Screens resumed from under a dialog keep it.
        if not self.restyle_on_resume:
            event.refresh_styles = False
            self.restyle_on_resume = True
        self.resumed()

    def _compositor_refresh(self) -> None:
        # A frame drawn while the app holds a batch (the start's compose and mount, a
        # mode switch) is thrown away by `App._display`: Textual drew the whole watchlist
        # two extra times before the first frame reached the terminal. The screen is
        # marked for a full repaint instead, done with the first frame after the batch.
        if self.app._batch_count:
            self._repaint_required = True
            return
        super()._compositor_refresh()

    def resumed(self) -> None:
        """The screen is the current one again (subclasses extend this)."""
        if self.tb_app.snapshot is not self._shown_snapshot:  # else shown before the switch
            self.show(self.tb_app.snapshot)

    def show(self, snap: EngineSnapshot | None) -> None:
        """Redraw from a snapshot (a screen still being composed waits for the next one)."""
        bars = self.query(StatusBar)
        if not bars:
            return
        bars.first().show(snap, mode=self.tb_app.mode_label)
        self._shown_snapshot = snap
        if snap is not None:
            self.show_body(snap)

    def show_body(self, snap: EngineSnapshot) -> None:
        """Redraw the screen's own widgets."""
