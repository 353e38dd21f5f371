"""The JSON API's use: one row per /api/ request (who, which endpoint and
model, status, time taken) and the API usage page summing them up."""
