"""The Bkav eDoc provincial-hub doors: SOAP (SwA) and its REST v2, behind an LGSP or not."""
