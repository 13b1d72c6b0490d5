"""The Textual dashboard: it draws what the core reports and sends what the user asks."""
