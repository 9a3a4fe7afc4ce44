"""Notable events a brewer wants in the Logs tab even though nothing is wrong.

The logs channel carries WARNING and above from every logger; records on this
logger are published at INFO too (a profile finished, a sensor is sane again, a
board came online). `running_controller` attaches the handler.
"""

from __future__ import annotations

import logging

events = logging.getLogger("services.controller.events")
