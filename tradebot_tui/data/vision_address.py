"""Where Binance Vision's archives are, and the variable that points elsewhere (a mirror,
or a fake one in tests): apart from `vision`, so that the parser's help can name them
without importing the downloader."""

BASE_URL = "https://data.binance.vision"
BASE_URL_ENV = "TRADEBOT_VISION_URL"
