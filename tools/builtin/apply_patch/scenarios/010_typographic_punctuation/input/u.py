msg = “don’t panic” — ok
