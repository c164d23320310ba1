msg = "keep calm"
