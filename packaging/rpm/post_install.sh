# Creates the ahdapa user and its directories; nothing is enabled or started.
systemd-sysusers ahdapa.conf || :
systemd-tmpfiles --create ahdapa.conf || :
chown root:ahdapa /etc/ahdapa /etc/ahdapa/ahdapa.toml || :
chmod 0750 /etc/ahdapa || :
if [ -d /run/systemd/system ]; then systemctl daemon-reload || :; fi
