#!/bin/sh
# A client that gives up before connecting, printing its secret as a careless client might.
echo "starting with secret $IOT_DEVICE_SECRET"
echo "fatal: cannot parse IOT_URL=$IOT_URL (secret $IOT_DEVICE_SECRET)" >&2
exit 3
