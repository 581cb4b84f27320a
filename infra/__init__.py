"""Infrastructure shared by edge and central that holds no domain rules: the MQTT transport
port and its adapters, the typed config files, numbered schema migrations."""
