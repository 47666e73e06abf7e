"""What pioneers, forum members and coordinators do by chat: join, check in, carry reports to the end."""
