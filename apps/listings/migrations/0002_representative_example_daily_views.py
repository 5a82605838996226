"""The representative example's amount and term, and daily catalog views (the funnel's top)."""

import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('campaigns', '0003_budgets_caps_conditions_ledger'),
        ('listings', '0001_initial'),
        ('origins', '0001_initial'),
    ]

    operations = [
        migrations.AddField(
            model_name='listing',
            name='example_amount',
            field=models.DecimalField(blank=True, decimal_places=2, help_text="Amount of the representative example; empty: the middle of the product's range.", max_digits=14, null=True),
        ),
        migrations.AddField(
            model_name='listing',
            name='example_term_months',
            field=models.PositiveSmallIntegerField(blank=True, help_text="Term of the representative example; empty: the middle of the product's range.", null=True),
        ),
        migrations.CreateModel(
            name='ListingDailyViews',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('day', models.DateField()),
                ('views', models.PositiveIntegerField(default=0)),
                ('campaign', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='+', to='campaigns.campaign')),
                ('listing', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='daily_views', to='listings.listing')),
                ('origin', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='+', to='origins.origin')),
            ],
            options={
                'verbose_name_plural': 'listing daily views',
                'constraints': [models.UniqueConstraint(fields=('day', 'origin', 'campaign', 'listing'), name='listing_views_once_per_day')],
            },
        ),
    ]
