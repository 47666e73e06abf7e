"""Who hears about a report, and how fast someone must answer: the thresholds, in one place."""

from __future__ import annotations

# Region levels by the number of segments of a Kemendagri code.
PROVINCE, REGENCY, DISTRICT, VILLAGE = 1, 2, 3, 4
# Reach 0: above the province; the coordinators are told that nobody responded.
COORDINATORS_TOLD = 0

# How far up an alert first goes for each level: contacts whose region is at this level or below it.
# Normal: desa and kecamatan. Waspada: also kabupaten/kota. Siaga and Awas: also the province.
FIRST_REACH = {"normal": DISTRICT, "waspada": REGENCY, "siaga": PROVINCE, "awas": PROVINCE}

# Levels at which coordinators get the alert itself, not only the news that nobody responded.
COORDINATORS_ALERTED = frozenset({"siaga", "awas"})

# Roles that receive alerts for their region and may acknowledge them.
RESPONDERS = ("pelopor", "fkdm")
COORDINATOR = "koordinator"
ROLES = (*RESPONDERS, COORDINATOR)

# Reports of the same category in the same kecamatan within this time are one incident.
INCIDENT_WINDOW_HOURS = 6

# A WhatsApp contact who wrote to the bot within this time can get free-form messages.
WHATSAPP_WINDOW_HOURS = 24

# Longest part of the reporter's description an alert quotes.
ALERT_SUMMARY_CHARS = 300
