"""Budgets, prices, caps, delivery conditions, weight, draft; per-origin caps on the existing
campaign-origin table (kept, now a declared through model); the ledger."""

import apps.products.models
import django.core.validators
import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('campaigns', '0002_initial'),
        ('leads', '0003_consumer_details_consents_notifications'),
        ('lenders', '0001_initial'),
        ('listings', '0001_initial'),
        ('origins', '0001_initial'),
        ('products', '0002_kinds_states_terms_eligibility_revisions'),
    ]

    operations = [
        migrations.CreateModel(
            name='LedgerEntry',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('kind', models.CharField(choices=[('lead', 'Lead delivered'), ('approved', 'Approved (postback)'), ('disbursed', 'Disbursed (postback)')], max_length=10)),
                ('amount', models.DecimalField(decimal_places=2, max_digits=14)),
                ('list_price', models.DecimalField(decimal_places=2, max_digits=14)),
                ('currency', models.CharField(max_length=3)),
                ('day', models.DateField(help_text='The marketplace day (settings.TIME_ZONE) of the charge.')),
                ('created_at', models.DateTimeField()),
            ],
            options={
                'verbose_name_plural': 'ledger entries',
                'ordering': ['-created_at', '-id'],
            },
        ),
        migrations.AddField(
            model_name='campaign',
            name='budget',
            field=models.DecimalField(blank=True, decimal_places=2, help_text='Total budget; empty: no limit.', max_digits=14, null=True, validators=[django.core.validators.MinValueValidator(0)]),
        ),
        migrations.AddField(
            model_name='campaign',
            name='budget_alert_percent',
            field=models.PositiveSmallIntegerField(default=80, help_text='Flag the campaign when this share of the budget is spent.', validators=[django.core.validators.MinValueValidator(1), django.core.validators.MaxValueValidator(100)]),
        ),
        migrations.AddField(
            model_name='campaign',
            name='budget_alerted_at',
            field=models.DateTimeField(blank=True, editable=False, null=True),
        ),
        migrations.AddField(
            model_name='campaign',
            name='counted_day',
            field=models.DateField(blank=True, editable=False, help_text='The day counted_day_leads is for.', null=True),
        ),
        migrations.AddField(
            model_name='campaign',
            name='counted_day_leads',
            field=models.PositiveIntegerField(default=0, editable=False),
        ),
        migrations.AddField(
            model_name='campaign',
            name='currency',
            field=models.CharField(default='COP', max_length=3, validators=[django.core.validators.RegexValidator('^[A-Z]{3}$')]),
        ),
        migrations.AddField(
            model_name='campaign',
            name='daily_lead_cap',
            field=models.PositiveIntegerField(blank=True, help_text='Leads per marketplace day; empty: none.', null=True),
        ),
        migrations.AddField(
            model_name='campaign',
            name='document_types',
            field=models.JSONField(blank=True, default=list, help_text='e.g. ["CC"]; empty: any.', validators=[apps.products.models.validate_document_types]),
        ),
        migrations.AddField(
            model_name='campaign',
            name='is_draft',
            field=models.BooleanField(default=False, help_text='Still being set up: never shown.'),
        ),
        migrations.AddField(
            model_name='campaign',
            name='leads_delivered',
            field=models.PositiveIntegerField(default=0, editable=False),
        ),
        migrations.AddField(
            model_name='campaign',
            name='max_age',
            field=models.PositiveSmallIntegerField(blank=True, null=True, validators=[django.core.validators.MinValueValidator(18), django.core.validators.MaxValueValidator(100)]),
        ),
        migrations.AddField(
            model_name='campaign',
            name='max_requested_amount',
            field=models.DecimalField(blank=True, decimal_places=2, max_digits=14, null=True),
        ),
        migrations.AddField(
            model_name='campaign',
            name='min_age',
            field=models.PositiveSmallIntegerField(blank=True, null=True, validators=[django.core.validators.MinValueValidator(18), django.core.validators.MaxValueValidator(100)]),
        ),
        migrations.AddField(
            model_name='campaign',
            name='min_monthly_income',
            field=models.PositiveBigIntegerField(blank=True, null=True),
        ),
        migrations.AddField(
            model_name='campaign',
            name='min_requested_amount',
            field=models.DecimalField(blank=True, decimal_places=2, max_digits=14, null=True),
        ),
        migrations.AddField(
            model_name='campaign',
            name='price_per_approved',
            field=models.DecimalField(decimal_places=2, default=0, help_text='Charged once when the lender reports the credit approved.', max_digits=14, validators=[django.core.validators.MinValueValidator(0)]),
        ),
        migrations.AddField(
            model_name='campaign',
            name='price_per_disbursed',
            field=models.DecimalField(decimal_places=2, default=0, help_text='Charged once when the lender reports the credit disbursed.', max_digits=14, validators=[django.core.validators.MinValueValidator(0)]),
        ),
        migrations.AddField(
            model_name='campaign',
            name='price_per_lead',
            field=models.DecimalField(decimal_places=2, default=0, help_text='Charged when a lead is routed to the lender.', max_digits=14, validators=[django.core.validators.MinValueValidator(0)]),
        ),
        migrations.AddField(
            model_name='campaign',
            name='regions',
            field=models.JSONField(blank=True, default=list, help_text='ISO 3166-2:CO codes, e.g. ["CO-DC", "CO-ANT"]; empty: all.', validators=[apps.products.models.validate_regions]),
        ),
        migrations.AddField(
            model_name='campaign',
            name='spent',
            field=models.DecimalField(decimal_places=2, default=0, editable=False, max_digits=14),
        ),
        migrations.AddField(
            model_name='campaign',
            name='total_lead_cap',
            field=models.PositiveIntegerField(blank=True, help_text='Leads in all; empty: none.', null=True),
        ),
        migrations.AddField(
            model_name='campaign',
            name='weight',
            field=models.PositiveSmallIntegerField(default=100, help_text='Among campaigns of the same priority, a higher weight shows first (or more often, in rotation).', validators=[django.core.validators.MinValueValidator(1)]),
        ),
        migrations.AlterField(
            model_name='campaign',
            name='is_active',
            field=models.BooleanField(default=True, help_text="Unticked: paused (staff's pause / resume actions).", verbose_name='running'),
        ),
        # The plain many-to-many's table becomes the through model's: same table, same columns,
        # so the state changes alone; the new columns are then added as usual.
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.CreateModel(
                    name='CampaignOrigin',
                    fields=[
                        ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                        ('campaign', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='campaign_origins', to='campaigns.campaign')),
                        ('origin', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='campaign_origins', to='origins.origin')),
                    ],
                    options={
                        'verbose_name': 'origin of the campaign',
                        'db_table': 'campaigns_campaign_origins',
                        'unique_together': {('campaign', 'origin')},
                    },
                ),
                migrations.AlterField(
                    model_name='campaign',
                    name='origins',
                    field=models.ManyToManyField(related_name='campaigns', through='campaigns.CampaignOrigin', to='origins.origin'),
                ),
            ],
            database_operations=[],
        ),
        migrations.AddField(
            model_name='campaignorigin',
            name='daily_lead_cap',
            field=models.PositiveIntegerField(blank=True, help_text='Empty: none.', null=True),
        ),
        migrations.AddField(
            model_name='campaignorigin',
            name='total_lead_cap',
            field=models.PositiveIntegerField(blank=True, help_text='Empty: none.', null=True),
        ),
        migrations.AddField(
            model_name='campaignorigin',
            name='leads_delivered',
            field=models.PositiveIntegerField(default=0, editable=False),
        ),
        migrations.AddField(
            model_name='campaignorigin',
            name='counted_day',
            field=models.DateField(blank=True, editable=False, null=True),
        ),
        migrations.AddField(
            model_name='campaignorigin',
            name='counted_day_leads',
            field=models.PositiveIntegerField(default=0, editable=False),
        ),
        migrations.AlterUniqueTogether(name='campaignorigin', unique_together=set()),
        migrations.AddConstraint(
            model_name='campaign',
            constraint=models.CheckConstraint(condition=models.Q(('spent__gte', 0)), name='campaign_spent_not_negative'),
        ),
        migrations.AddConstraint(
            model_name='campaign',
            constraint=models.CheckConstraint(condition=models.Q(('budget__isnull', True), ('spent__lte', models.F('budget')), _connector='OR'), name='campaign_spent_within_budget'),
        ),
        migrations.AddConstraint(
            model_name='campaign',
            constraint=models.CheckConstraint(condition=models.Q(('total_lead_cap__isnull', True), ('leads_delivered__lte', models.F('total_lead_cap')), _connector='OR'), name='campaign_leads_within_cap'),
        ),
        migrations.AddField(
            model_name='ledgerentry',
            name='campaign',
            field=models.ForeignKey(on_delete=django.db.models.deletion.PROTECT, related_name='ledger', to='campaigns.campaign'),
        ),
        migrations.AddField(
            model_name='ledgerentry',
            name='lead',
            field=models.ForeignKey(on_delete=django.db.models.deletion.PROTECT, related_name='ledger', to='leads.lead'),
        ),
        migrations.AddField(
            model_name='ledgerentry',
            name='lender',
            field=models.ForeignKey(on_delete=django.db.models.deletion.PROTECT, related_name='+', to='lenders.lender'),
        ),
        migrations.AddField(
            model_name='ledgerentry',
            name='origin',
            field=models.ForeignKey(on_delete=django.db.models.deletion.PROTECT, related_name='+', to='origins.origin'),
        ),
        migrations.AddConstraint(
            model_name='campaignorigin',
            constraint=models.UniqueConstraint(fields=('campaign', 'origin'), name='campaign_origin_once'),
        ),
        migrations.AddConstraint(
            model_name='campaignorigin',
            constraint=models.CheckConstraint(condition=models.Q(('total_lead_cap__isnull', True), ('leads_delivered__lte', models.F('total_lead_cap')), _connector='OR'), name='campaign_origin_leads_within_cap'),
        ),
        migrations.AddIndex(
            model_name='ledgerentry',
            index=models.Index(fields=['campaign', 'day'], name='campaigns_l_campaig_a0f8ec_idx'),
        ),
        migrations.AddIndex(
            model_name='ledgerentry',
            index=models.Index(fields=['day', 'kind'], name='campaigns_l_day_1b945d_idx'),
        ),
        migrations.AddConstraint(
            model_name='ledgerentry',
            constraint=models.UniqueConstraint(fields=('lead', 'campaign', 'kind'), name='ledger_once_per_lead_campaign_and_kind'),
        ),
        migrations.AddConstraint(
            model_name='ledgerentry',
            constraint=models.CheckConstraint(condition=models.Q(('amount__gte', 0)), name='ledger_amount_not_negative'),
        ),
    ]
