"""The quality benchmark's intents with their correct rules, in a compact form that
`quality_make_data.py` expands into full workflow-rules documents (`bench/quality/intents.json`).

Each `I(...)` is one intent: the catalogue, the wording, the trigger, the correct condition, the
correct actions, and `slip`: the (correct literal, literal a model writes when it forgets to
convert units) pairs, for the intents whose wording uses another unit than the variable.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class I:  # noqa: E742 - one letter keeps the table below readable
    catalogue: str
    intent: str
    trigger: str
    condition: str
    actions: tuple[dict[str, Any], ...]
    slip: tuple[tuple[str, str], ...] = ()


def act(name: str, **params: Any) -> dict[str, Any]:
    return {"action": name, "params": params}


_IN = "infra_monitoring"
_EC = "ecommerce_orders"
_SE = "security_auth"
_HR = "hr_finance_approvals"
_IO = "iot_manufacturing"
_SU = "support_ticketing"
_M = "ON_METRIC_UPDATE"

INFRA = (
    I(
        _IN,
        "Page the database team when database memory exceeds 85%",
        _M,
        "$metrics.db_memory_percent > 85",
        (
            act(
                "PAGE_ONCALL",
                team="database",
                message="Database memory above 85%",
                severity="warning",
            ),
        ),
    ),
    I(
        _IN,
        "Post to #infra-alerts when CPU usage goes above 90 percent",
        _M,
        "$metrics.cpu_percent > 90",
        (act("POST_SLACK_MESSAGE", channel="#infra-alerts", text="CPU above 90%"),),
    ),
    I(
        _IN,
        "Email sre@example.com when free disk space drops below 20 GB",
        _M,
        "$metrics.disk_free_gb < 20",
        (
            act(
                "SEND_EMAIL",
                to="sre@example.com",
                subject="Low disk space",
                body="Free disk space is below 20 GB",
            ),
        ),
    ),
    I(
        _IN,
        "Open a critical incident when the error rate exceeds 2%",
        _M,
        "$metrics.error_rate > 0.02",
        (act("OPEN_INCIDENT", title="Error rate above 2%", severity="critical"),),
        slip=(("0.02", "2"),),
    ),
    I(
        _IN,
        "Scale the checkout service out to 6 replicas when p95 latency is higher than 1.5 seconds",
        _M,
        "$metrics.p95_latency_ms > 1500",
        (act("SCALE_OUT", service="checkout", replicas=6),),
        slip=(("1500", "1.5"),),
    ),
    I(
        _IN,
        "Restart the payments service when it is down",
        "ON_HEALTH_CHECK",
        '$service.status == "down"',
        (act("RESTART_SERVICE", service="payments"),),
    ),
    I(
        _IN,
        "Page the platform team with critical severity when the queue depth is at least "
        "1000 and CPU is over 80%",
        _M,
        "$metrics.queue_depth >= 1000 AND $metrics.cpu_percent > 80",
        (
            act(
                "PAGE_ONCALL",
                team="platform",
                message="Queue backed up and CPU above 80%",
                severity="critical",
            ),
        ),
    ),
    I(
        _IN,
        "Post to #backups when the last backup is older than 26 hours",
        "ON_SCHEDULE",
        "$backup.age_hours > 26",
        (act("POST_SLACK_MESSAGE", channel="#backups", text="No backup for 26 hours"),),
    ),
    I(
        _IN,
        "Email security@example.com when the TLS certificate expires in fewer than 14 days",
        "ON_SCHEDULE",
        "$cert.days_to_expiry < 14",
        (
            act(
                "SEND_EMAIL",
                to="security@example.com",
                subject="TLS certificate expiring",
                body="The certificate expires in under 14 days",
            ),
        ),
    ),
    I(
        _IN,
        "Post to #db-oncall when free disk drops under 500 MB",
        _M,
        "$metrics.disk_free_gb < 0.5",
        (act("POST_SLACK_MESSAGE", channel="#db-oncall", text="Free disk below 500 MB"),),
        slip=(("0.5", "500"),),
    ),
    I(
        _IN,
        "Page the storage team when free disk space is below 50 GB and memory usage is above 90%",
        _M,
        "$metrics.disk_free_gb < 50 AND $metrics.memory_percent > 90",
        (
            act(
                "PAGE_ONCALL",
                team="storage",
                message="Disk low and memory high",
                severity="warning",
            ),
        ),
    ),
    I(
        _IN,
        "Open a warning incident for the api team when the error rate is above 0.5%",
        _M,
        "$metrics.error_rate > 0.005",
        (act("OPEN_INCIDENT", title="Error rate above 0.5%", severity="warning", team="api"),),
        slip=(("0.005", "0.5"),),
    ),
    I(
        _IN,
        "Restart the search service when memory usage reaches 95%",
        _M,
        "$metrics.memory_percent >= 95",
        (act("RESTART_SERVICE", service="search"),),
    ),
    I(
        _IN,
        "Post to #perf when p95 latency exceeds 800 ms or CPU exceeds 85%",
        _M,
        "$metrics.p95_latency_ms > 800 OR $metrics.cpu_percent > 85",
        (act("POST_SLACK_MESSAGE", channel="#perf", text="Latency or CPU high"),),
    ),
    I(
        _IN,
        "Page the web team with info severity when the last backup is more than 2 days old",
        "ON_SCHEDULE",
        "$backup.age_hours > 48",
        (act("PAGE_ONCALL", team="web", message="Backup older than 2 days", severity="info"),),
        slip=(("48", "2"),),
    ),
)

ECOMMERCE = (
    I(
        _EC,
        "Hold orders over €5,000 for manual review",
        "ON_ORDER_CREATED",
        "$order.total > 5000",
        (act("HOLD_ORDER", order_id="$order.id", reason="Order total above 5000 EUR"),),
    ),
    I(
        _EC,
        "Send the order to fraud review with urgent priority when the fraud score exceeds 80%",
        "ON_PAYMENT_EVENT",
        "$payment.fraud_score > 0.8",
        (act("FLAG_FOR_FRAUD_REVIEW", order_id="$order.id", priority="urgent"),),
        slip=(("0.8", "80"),),
    ),
    I(
        _EC,
        "Reorder 200 units when stock falls below 20 units",
        "ON_INVENTORY_CHANGE",
        "$inventory.stock_level < 20",
        (act("CREATE_PURCHASE_ORDER", sku="$inventory.sku", quantity=200),),
    ),
    I(
        _EC,
        "Post to #fulfilment when a shipment is delayed by more than 48 hours",
        "ON_SHIPMENT_UPDATE",
        "$shipment.delay_hours > 48",
        (act("POST_TO_CHANNEL", channel="#fulfilment", message="Shipment delayed over 48h"),),
    ),
    I(
        _EC,
        "Text the customer a delay notice by sms when the shipment is more than 2 days late",
        "ON_SHIPMENT_UPDATE",
        "$shipment.delay_hours > 48",
        (act("NOTIFY_CUSTOMER", template="shipment-delay", channel="sms"),),
        slip=(("48", "2"),),
    ),
    I(
        _EC,
        "Email the customer a reminder when the cart has been idle for over 2 hours",
        "ON_CART_UPDATED",
        "$cart.idle_minutes > 120",
        (act("NOTIFY_CUSTOMER", template="cart-reminder", channel="email"),),
        slip=(("120", "2"),),
    ),
    I(
        _EC,
        "Flag orders with a fraud score of at least 0.95 for urgent fraud review and hold them",
        "ON_PAYMENT_EVENT",
        "$payment.fraud_score >= 0.95",
        (
            act("FLAG_FOR_FRAUD_REVIEW", order_id="$order.id", priority="urgent"),
            act("HOLD_ORDER", order_id="$order.id", reason="Fraud score at least 0.95"),
        ),
    ),
    I(
        _EC,
        "Hold the order when the payment failed",
        "ON_PAYMENT_EVENT",
        '$payment.status == "failed"',
        (act("HOLD_ORDER", order_id="$order.id", reason="Payment failed"),),
    ),
    I(
        _EC,
        "Post to #big-orders when an order has more than 50 items or its total exceeds €10,000",
        "ON_ORDER_CREATED",
        "$order.items_count > 50 OR $order.total > 10000",
        (act("POST_TO_CHANNEL", channel="#big-orders", message="Large order"),),
    ),
    I(
        _EC,
        "Hold orders shipping to US with a total above 2000 euros",
        "ON_ORDER_CREATED",
        '$order.country == "US" AND $order.total > 2000',
        (act("HOLD_ORDER", order_id="$order.id", reason="US order above 2000 EUR"),),
    ),
    I(
        _EC,
        "Reorder 500 units when the stock level is at most 100",
        "ON_INVENTORY_CHANGE",
        "$inventory.stock_level <= 100",
        (act("CREATE_PURCHASE_ORDER", sku="$inventory.sku", quantity=500),),
    ),
    I(
        _EC,
        "Flag orders for normal priority fraud review when the fraud score is between 50% and 80%",
        "ON_PAYMENT_EVENT",
        "$payment.fraud_score >= 0.5 AND $payment.fraud_score <= 0.8",
        (act("FLAG_FOR_FRAUD_REVIEW", order_id="$order.id", priority="normal"),),
        slip=(("0.5", "50"), ("0.8", "80")),
    ),
    I(
        _EC,
        "Email customers a we-miss-you offer when their cart is idle for more than 45 minutes",
        "ON_CART_UPDATED",
        "$cart.idle_minutes > 45",
        (act("NOTIFY_CUSTOMER", template="we-miss-you", channel="email"),),
    ),
    I(
        _EC,
        "Post to #ops-shop when the shipment delay exceeds 6 hours and the order total is "
        "over €1,000",
        "ON_SHIPMENT_UPDATE",
        "$shipment.delay_hours > 6 AND $order.total > 1000",
        (act("POST_TO_CHANNEL", channel="#ops-shop", message="Valuable order delayed"),),
    ),
)

SECURITY = (
    I(
        _SE,
        "Lock the account for 30 minutes after more than 5 failed logins",
        "ON_LOGIN_EVENT",
        "$auth.failed_logins > 5",
        (act("LOCK_ACCOUNT", user_id="$auth.user_id", minutes=30),),
    ),
    I(
        _SE,
        "Block the IP for 60 minutes when a client makes more than 1000 requests per minute",
        "ON_API_REQUEST",
        "$api.requests_per_minute > 1000",
        (act("BLOCK_IP", ip="$auth.source_ip", minutes=60),),
    ),
    I(
        _SE,
        "Alert the soc team with high severity when someone exports more than 2 GB",
        "ON_DATA_EXPORT",
        "$export.size_mb > 2048",
        (act("ALERT_SECURITY_TEAM", team="soc", severity="high", summary="Export above 2 GB"),),
        slip=(("2048", "2"),),
    ),
    I(
        _SE,
        "Require MFA when the risk score is above 70",
        "ON_LOGIN_EVENT",
        "$auth.risk_score > 70",
        (act("REQUIRE_MFA", user_id="$auth.user_id"),),
    ),
    I(
        _SE,
        "Revoke all tokens when an API token is older than 90 days",
        "ON_API_REQUEST",
        "$token.age_days > 90",
        (act("REVOKE_TOKENS", user_id="$auth.user_id"),),
    ),
    I(
        _SE,
        "Revoke the user's tokens when the session has been idle for more than 8 hours",
        "ON_API_REQUEST",
        "$session.idle_minutes > 480",
        (act("REVOKE_TOKENS", user_id="$auth.user_id"),),
        slip=(("480", "8"),),
    ),
    I(
        _SE,
        "Open a case in the fraud queue when a login comes from RU with a risk score of at "
        "least 60",
        "ON_LOGIN_EVENT",
        '$auth.country == "RU" AND $auth.risk_score >= 60',
        (act("OPEN_CASE", title="Risky login from RU", queue="fraud"),),
    ),
    I(
        _SE,
        "Alert the security team with critical severity after 20 or more failed logins",
        "ON_LOGIN_EVENT",
        "$auth.failed_logins >= 20",
        (
            act(
                "ALERT_SECURITY_TEAM",
                team="security",
                severity="critical",
                summary="20 or more failed logins",
            ),
        ),
    ),
    I(
        _SE,
        "Block the IP for 15 minutes when failed logins exceed 10 and the risk score is above 80",
        "ON_LOGIN_EVENT",
        "$auth.failed_logins > 10 AND $auth.risk_score > 80",
        (act("BLOCK_IP", ip="$auth.source_ip", minutes=15),),
    ),
    I(
        _SE,
        "Lock the account for 60 minutes when more than 100000 rows are exported",
        "ON_DATA_EXPORT",
        "$export.rows > 100000",
        (act("LOCK_ACCOUNT", user_id="$auth.user_id", minutes=60),),
    ),
    I(
        _SE,
        "Alert the soc team with medium severity when an export is larger than 500 MB",
        "ON_DATA_EXPORT",
        "$export.size_mb > 500",
        (act("ALERT_SECURITY_TEAM", team="soc", severity="medium", summary="Export over 500 MB"),),
    ),
    I(
        _SE,
        "Require MFA when the risk score exceeds 50%",
        "ON_LOGIN_EVENT",
        "$auth.risk_score > 50",
        (act("REQUIRE_MFA", user_id="$auth.user_id"),),
        slip=(("50", "0.5"),),
    ),
    I(
        _SE,
        "Alert the identity team with low severity when an API token is older than 1 year",
        "ON_API_REQUEST",
        "$token.age_days > 365",
        (
            act(
                "ALERT_SECURITY_TEAM",
                team="identity",
                severity="low",
                summary="API token older than a year",
            ),
        ),
        slip=(("365", "1"),),
    ),
    I(
        _SE,
        "Open a case when a client exceeds 50 requests per second",
        "ON_API_REQUEST",
        "$api.requests_per_minute > 3000",
        (act("OPEN_CASE", title="Client above 50 requests per second"),),
        slip=(("3000", "50"),),
    ),
)

HR_FINANCE = (
    I(
        _HR,
        "Ask a manager to approve expenses over €500",
        "ON_EXPENSE_SUBMITTED",
        "$expense.amount > 500",
        (act("REQUEST_APPROVAL", approver_role="manager"),),
    ),
    I(
        _HR,
        "Auto-approve expenses under €50",
        "ON_EXPENSE_SUBMITTED",
        "$expense.amount < 50",
        (act("AUTO_APPROVE"),),
    ),
    I(
        _HR,
        "Ask a director to approve travel expenses of at least €5,000",
        "ON_EXPENSE_SUBMITTED",
        '$expense.amount >= 5000 AND $expense.category == "travel"',
        (act("REQUEST_APPROVAL", approver_role="director"),),
    ),
    I(
        _HR,
        "Reject leave requests with less than 3 days notice",
        "ON_LEAVE_REQUESTED",
        "$leave.notice_days < 3",
        (act("REJECT_REQUEST", reason="Leave needs at least 3 days notice"),),
    ),
    I(
        _HR,
        "Ask hr to approve leave requests longer than 2 weeks",
        "ON_LEAVE_REQUESTED",
        "$leave.days > 14",
        (act("REQUEST_APPROVAL", approver_role="hr"),),
        slip=(("14", "2"),),
    ),
    I(
        _HR,
        "Ask the cfo to approve invoices over €100k",
        "ON_INVOICE_RECEIVED",
        "$invoice.amount > 100000",
        (act("REQUEST_APPROVAL", approver_role="cfo"),),
    ),
    I(
        _HR,
        "Schedule payment in 30 days for invoices under €1,000",
        "ON_INVOICE_RECEIVED",
        "$invoice.amount < 1000",
        (act("SCHEDULE_PAYMENT", invoice_id="$invoice.id", pay_in_days=30),),
    ),
    I(
        _HR,
        "Notify the finance team on slack when an invoice is more than 60 days overdue",
        "ON_MONTH_END",
        "$invoice.overdue_days > 60",
        (
            act(
                "NOTIFY_USER",
                recipient="finance",
                message="Invoice over 60 days overdue",
                channel="slack",
            ),
        ),
    ),
    I(
        _HR,
        "Email the budget owner when budget utilisation exceeds 90%",
        "ON_MONTH_END",
        "$budget.utilisation > 0.9",
        (
            act(
                "NOTIFY_USER",
                recipient="budget-owner",
                message="Budget above 90% used",
                channel="email",
            ),
        ),
        slip=(("0.9", "90"),),
    ),
    I(
        _HR,
        "Open an HR ticket for the payroll team when weekly overtime exceeds 10 hours",
        "ON_MONTH_END",
        "$employee.overtime_hours > 10",
        (act("CREATE_HR_TICKET", summary="Overtime above 10 hours", team="payroll"),),
    ),
    I(
        _HR,
        "Ask a manager to approve leave for employees with less than 6 months tenure",
        "ON_LEAVE_REQUESTED",
        "$employee.tenure_months < 6",
        (act("REQUEST_APPROVAL", approver_role="manager"),),
    ),
    I(
        _HR,
        "Notify the controlling team on teams when budget utilisation reaches 75%",
        "ON_MONTH_END",
        "$budget.utilisation >= 0.75",
        (act("NOTIFY_USER", recipient="controlling", message="Budget 75% used", channel="teams"),),
        slip=(("0.75", "75"),),
    ),
    I(
        _HR,
        "Ask a director to approve software expenses above €2,000",
        "ON_EXPENSE_SUBMITTED",
        '$expense.category == "software" AND $expense.amount > 2000',
        (act("REQUEST_APPROVAL", approver_role="director"),),
    ),
    I(
        _HR,
        "Reject expense reports above €20,000",
        "ON_EXPENSE_SUBMITTED",
        "$expense.amount > 20000",
        (act("REJECT_REQUEST", reason="Expense above 20000 EUR"),),
    ),
)

IOT = (
    I(
        _IO,
        "Stop the line when humidity exceeds 70%",
        "ON_SENSOR_READING",
        "$sensor.humidity > 0.7",
        (act("STOP_LINE", line_id="$line.id", reason="Humidity above 70%"),),
        slip=(("0.7", "70"),),
    ),
    I(
        _IO,
        "Open a P1 work order when vibration exceeds 7.1 mm/s",
        "ON_SENSOR_READING",
        "$machine.vibration_mm_s > 7.1",
        (
            act(
                "CREATE_WORK_ORDER",
                asset_id="$machine.id",
                priority="P1",
                description="Vibration above 7.1 mm/s",
            ),
        ),
    ),
    I(
        _IO,
        "Notify the maintenance team's shift lead when spindle load is above 95%",
        "ON_SENSOR_READING",
        "$machine.spindle_load > 0.95",
        (act("NOTIFY_SHIFT_LEAD", team="maintenance", message="Spindle load above 95%"),),
        slip=(("0.95", "95"),),
    ),
    I(
        _IO,
        "Log an error when temperature goes above 85 degrees",
        "ON_SENSOR_READING",
        "$sensor.temperature_c > 85",
        (act("LOG_EVENT", message="Temperature above 85 C", level="error"),),
    ),
    I(
        _IO,
        "Open a P2 work order when a machine has been stopped for more than 10 minutes",
        "ON_MACHINE_STATE",
        "$machine.downtime_seconds > 600",
        (
            act(
                "CREATE_WORK_ORDER",
                asset_id="$machine.id",
                priority="P2",
                description="Machine stopped over 10 minutes",
            ),
        ),
        slip=(("600", "10"),),
    ),
    I(
        _IO,
        "Notify the packaging team's shift lead when OEE drops below 65% at shift end",
        "ON_SHIFT_END",
        "$line.oee < 0.65",
        (act("NOTIFY_SHIFT_LEAD", team="packaging", message="OEE below 65%"),),
        slip=(("0.65", "65"),),
    ),
    I(
        _IO,
        "Set the chiller setpoint to 4 when temperature exceeds 8 degrees",
        "ON_SENSOR_READING",
        "$sensor.temperature_c > 8",
        (act("SET_SETPOINT", device_id="chiller", value=4),),
    ),
    I(
        _IO,
        "Stop the line when pressure is above 6.5 bar or vibration is above 11 mm/s",
        "ON_SENSOR_READING",
        "$sensor.pressure_bar > 6.5 OR $machine.vibration_mm_s > 11",
        (act("STOP_LINE", line_id="$line.id", reason="Pressure or vibration too high"),),
    ),
    I(
        _IO,
        "Log a warning when the tank level falls below 200 litres",
        "ON_SENSOR_READING",
        "$tank.level_litres < 200",
        (act("LOG_EVENT", message="Tank below 200 litres", level="warning"),),
    ),
    I(
        _IO,
        "Open a P3 work order when a device battery is at most 15%",
        "ON_SENSOR_READING",
        "$device.battery <= 0.15",
        (
            act(
                "CREATE_WORK_ORDER",
                asset_id="$machine.id",
                priority="P3",
                description="Battery at or below 15%",
            ),
        ),
        slip=(("0.15", "15"),),
    ),
    I(
        _IO,
        "Notify the assembly team's shift lead when a machine is in fault state",
        "ON_MACHINE_STATE",
        '$machine.state == "fault"',
        (act("NOTIFY_SHIFT_LEAD", team="assembly", message="Machine fault"),),
    ),
    I(
        _IO,
        "Stop the line when humidity is above 80% and temperature is above 30 degrees",
        "ON_SENSOR_READING",
        "$sensor.humidity > 0.8 AND $sensor.temperature_c > 30",
        (act("STOP_LINE", line_id="$line.id", reason="Hot and humid"),),
        slip=(("0.8", "80"),),
    ),
    I(
        _IO,
        "Log info when downtime exceeds 90 seconds",
        "ON_MACHINE_STATE",
        "$machine.downtime_seconds > 90",
        (act("LOG_EVENT", message="Downtime above 90 s", level="info"),),
    ),
    I(
        _IO,
        "Open a P1 work order when spindle load reaches 0.98 and vibration is at least 9 mm/s",
        "ON_SENSOR_READING",
        "$machine.spindle_load >= 0.98 AND $machine.vibration_mm_s >= 9",
        (
            act(
                "CREATE_WORK_ORDER",
                asset_id="$machine.id",
                priority="P1",
                description="Spindle overload with vibration",
            ),
        ),
    ),
)

SUPPORT = (
    I(
        _SU,
        "Escalate tickets older than 48 hours to tier 2",
        "ON_SLA_TICK",
        "$ticket.age_hours > 48",
        (act("ESCALATE_TICKET", tier="2", reason="Older than 48h"),),
    ),
    I(
        _SU,
        "Post to #support-leads when the first response takes longer than 30 minutes",
        "ON_SLA_TICK",
        "$ticket.first_response_minutes > 30",
        (act("SEND_SLACK_ALERT", channel="#support-leads", text="First response over 30 min"),),
    ),
    I(
        _SU,
        "Assign enterprise tickets to the vip queue",
        "ON_TICKET_CREATED",
        '$customer.tier == "enterprise"',
        (act("ASSIGN_TICKET", queue="vip"),),
    ),
    I(
        _SU,
        "Set urgent priority when less than 10 minutes remain on the SLA",
        "ON_SLA_TICK",
        "$sla.remaining_seconds < 600",
        (act("SET_PRIORITY", priority="urgent"),),
        slip=(("600", "10"),),
    ),
    I(
        _SU,
        "Escalate to tier 3 when a ticket is reopened more than 2 times",
        "ON_TICKET_UPDATED",
        "$ticket.reopen_count > 2",
        (act("ESCALATE_TICKET", tier="3", reason="Reopened more than twice"),),
    ),
    I(
        _SU,
        "Email the customer the csat-followup template when satisfaction drops below 60%",
        "ON_TICKET_UPDATED",
        "$customer.csat < 0.6",
        (act("EMAIL_CUSTOMER", template="csat-followup"),),
        slip=(("0.6", "60"),),
    ),
    I(
        _SU,
        "Post to #support-managers when the queue has more than 200 open tickets",
        "ON_TICKET_CREATED",
        "$queue.open_tickets > 200",
        (act("SEND_SLACK_ALERT", channel="#support-managers", text="Over 200 open tickets"),),
    ),
    I(
        _SU,
        "Tag phone tickets from enterprise customers as priority-callback",
        "ON_TICKET_CREATED",
        '$ticket.channel == "phone" AND $customer.tier == "enterprise"',
        (act("ADD_TAG", tag="priority-callback"),),
    ),
    I(
        _SU,
        "Escalate tickets older than 3 days to tier 2",
        "ON_SLA_TICK",
        "$ticket.age_hours > 72",
        (act("ESCALATE_TICKET", tier="2", reason="Older than 3 days"),),
        slip=(("72", "3"),),
    ),
    I(
        _SU,
        "Assign high priority tickets with no reply after 2 hours to the escalations queue",
        "ON_SLA_TICK",
        '$ticket.priority == "high" AND $ticket.first_response_minutes > 120',
        (act("ASSIGN_TICKET", queue="escalations"),),
        slip=(("120", "2"),),
    ),
    I(
        _SU,
        "Post to #sla-watch when fewer than 300 seconds remain on the SLA",
        "ON_SLA_TICK",
        "$sla.remaining_seconds < 300",
        (act("SEND_SLACK_ALERT", channel="#sla-watch", text="SLA breach in under 5 minutes"),),
    ),
    I(
        _SU,
        "Set high priority for pro customers whose tickets are older than 24 hours",
        "ON_SLA_TICK",
        '$customer.tier == "pro" AND $ticket.age_hours > 24',
        (act("SET_PRIORITY", priority="high"),),
    ),
    I(
        _SU,
        "Tag tickets reopened at least 3 times as churn-risk",
        "ON_TICKET_UPDATED",
        "$ticket.reopen_count >= 3",
        (act("ADD_TAG", tag="churn-risk"),),
    ),
    I(
        _SU,
        "Post to #cx-health when CSAT falls below 0.7 for enterprise customers",
        "ON_TICKET_UPDATED",
        '$customer.csat < 0.7 AND $customer.tier == "enterprise"',
        (act("SEND_SLACK_ALERT", channel="#cx-health", text="Enterprise CSAT below 0.7"),),
    ),
)

INTENTS: tuple[I, ...] = INFRA + ECOMMERCE + SECURITY + HR_FINANCE + IOT + SUPPORT
