echo gifi buru bisu
