SELECT %s, %s
