"""What coordinators ask of their region by chat: its picture, its reports, its pioneers, a broadcast."""
