"""The engine on real boards: targets, the board top with its host link, builds, the host driver, reports.

- ``targets``: the boards zskip builds for (``zskip build --list``), each with its default engine;
- ``top``: the engine behind a UART host link (``BoardCore``), on a board's pins and clock (``BoardTop``);
- ``pll``: the PLL that makes the engine's clock from the board's oscillator;
- ``build``: synthesis, place and route with the open toolchain, and the build report (``zskip build``);
- ``host``: the host driver that runs sequences on a board over its serial port;
- ``board_sim`` and ``tb_board``: the board core in co-simulation, driven by that same host driver;
- ``power``: the activity-based energy estimate; ``report``: speed, energy and accuracy in one report
  (``zskip report``).
"""

__all__ = []
