app_name = "monitor-api"
# Drift and realised performance in JSON (monitor/api*.py).
urlpatterns: list = []
