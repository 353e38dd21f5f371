# Dates as the pages always showed them (ISO order, 24 h); Django's own en
# formats fill in the rest (decimal point, comma for thousands).
DATE_FORMAT = "Y-m-d"
SHORT_DATE_FORMAT = "Y-m-d"
DATETIME_FORMAT = "Y-m-d H:i:s"
SHORT_DATETIME_FORMAT = "Y-m-d H:i"
TIME_FORMAT = "H:i:s"
