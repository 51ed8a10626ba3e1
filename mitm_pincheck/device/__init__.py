"""The device side: the proxy CA and its files, and adb."""
