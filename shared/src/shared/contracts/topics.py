"""Kafka topic names. The wider platform consumes these, so they never change meaning."""

KEY_VALIDATED = "KeyValidated"
STORE_CONNECTED = "StoreConnected"
ORG_SELECTED = "OrgSelected"
ORG_DISCONNECTED = "OrgDisconnected"
STORE_DISCONNECTED = "StoreDisconnected"
SETUP_COMPLETED = "SetupCompleted"
CONNECTIONS_CHANGED = "ConnectionsChanged"
SETUP_FINALISED = "SetupFinalised"
CONNECTION_BROKEN = "ConnectionBroken"
CONNECTION_RESTORED = "ConnectionRestored"
CONSENT_ABANDONED = "ConsentAbandoned"
SETUP_REMINDER_REQUESTED = "SetupReminderRequested"
MERCHANT_ERASED = "MerchantErased"


def dead_letter_topic(consumer_group: str) -> str:
    """One dead-letter topic per consuming service, so ops can replay one service's rejects."""
    return f"DeadLetter.{consumer_group}"
