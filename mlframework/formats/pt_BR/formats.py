# dd/mm/aaaa and 24 h, as Brazilian analysts write them; Django's own pt_BR
# formats fill in the rest (decimal comma, dot for thousands).
DATE_FORMAT = "d/m/Y"
SHORT_DATE_FORMAT = "d/m/Y"
DATETIME_FORMAT = "d/m/Y H:i:s"
SHORT_DATETIME_FORMAT = "d/m/Y H:i"
TIME_FORMAT = "H:i:s"
