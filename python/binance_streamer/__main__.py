import sys

from binance_streamer.cli import main

sys.exit(main())
