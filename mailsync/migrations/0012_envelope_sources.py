# Every sighting and ledger row so far came from an IMAP folder: they get source "imap" and keep
# their folder, UIDVALIDITY and UID. Rows of the other routes (BCC address, outbox) come later.

from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('mailsync', '0011_error_codes_from_the_catalogue'),
    ]

    operations = [
        migrations.AddField(
            model_name='sighting',
            name='inbound_address',
            field=models.CharField(blank=True, max_length=254),
        ),
        migrations.AddField(
            model_name='sighting',
            name='inbound_route',
            field=models.CharField(blank=True, max_length=40),
        ),
        migrations.AddField(
            model_name='sighting',
            name='outgoing_id',
            field=models.BigIntegerField(blank=True, null=True),
        ),
        migrations.AddField(
            model_name='sighting',
            name='route_message_id',
            field=models.CharField(blank=True, max_length=255),
        ),
        migrations.AddField(
            model_name='sighting',
            name='source',
            field=models.CharField(choices=[('imap', 'Mailbox folder'), ('inbound', 'BCC address'), ('outbox', 'Sent from the CRM')], default='imap', max_length=10, verbose_name='source'),
            preserve_default=False,
        ),
        migrations.AddField(
            model_name='skipentry',
            name='inbound_address',
            field=models.CharField(blank=True, max_length=254),
        ),
        migrations.AddField(
            model_name='skipentry',
            name='inbound_route',
            field=models.CharField(blank=True, max_length=40),
        ),
        migrations.AddField(
            model_name='skipentry',
            name='outgoing_id',
            field=models.BigIntegerField(blank=True, null=True),
        ),
        migrations.AddField(
            model_name='skipentry',
            name='route_message_id',
            field=models.CharField(blank=True, max_length=255),
        ),
        migrations.AddField(
            model_name='skipentry',
            name='source',
            field=models.CharField(choices=[('imap', 'Mailbox folder'), ('inbound', 'BCC address'), ('outbox', 'Sent from the CRM')], default='imap', max_length=10, verbose_name='source'),
            preserve_default=False,
        ),
        migrations.AddConstraint(
            model_name='sighting',
            constraint=models.UniqueConstraint(condition=models.Q(('source', 'inbound'), models.Q(('route_message_id', ''), _negated=True)), fields=('account', 'inbound_route', 'route_message_id'), name='one_sighting_per_route_message'),
        ),
        migrations.AddConstraint(
            model_name='sighting',
            constraint=models.UniqueConstraint(condition=models.Q(('source', 'outbox')), fields=('account', 'outgoing_id'), name='one_sighting_per_outgoing'),
        ),
        migrations.AddConstraint(
            model_name='sighting',
            constraint=models.CheckConstraint(condition=models.Q(models.Q(('source', 'imap'), ('uid__isnull', False)), models.Q(('source', 'inbound'), models.Q(('inbound_route', ''), _negated=True)), models.Q(('outgoing_id__isnull', False), ('source', 'outbox')), _connector='OR'), name='sighting_has_its_source'),
        ),
        migrations.AddConstraint(
            model_name='skipentry',
            constraint=models.UniqueConstraint(condition=models.Q(('source', 'inbound'), models.Q(('route_message_id', ''), _negated=True)), fields=('account', 'inbound_route', 'route_message_id', 'code'), name='one_skip_per_route_message'),
        ),
        migrations.AddConstraint(
            model_name='skipentry',
            constraint=models.UniqueConstraint(condition=models.Q(('source', 'outbox')), fields=('account', 'outgoing_id', 'code'), name='one_skip_per_outgoing'),
        ),
    ]
